import { inspect } from 'node:util';

import { CfAuthError } from '../errors/cf.error';
import { parseBearerHeader } from './bearer-token.util';
import { SecretToken } from './secret-token';

describe('parseBearerHeader', () => {
  it.each([
    ['bearer abc.def.ghi', 'abc.def.ghi'],
    ['Bearer abc', 'abc'],
    ['  BEARER   abc  ', 'abc'],
  ])('%s', (header, token) => {
    expect(parseBearerHeader(header)).toBe(token);
  });

  it.each<[string | string[] | undefined, string]>([
    [undefined, 'missing_token'],
    ['', 'missing_token'],
    ['abc', 'malformed_token'],
    ['bearer a b', 'malformed_token'],
    ['token abc', 'malformed_token'],
    [['bearer a', 'bearer b'], 'malformed_token'],
  ])('refuses %p', (header, reason) => {
    expect(() => parseBearerHeader(header)).toThrow(CfAuthError);
    try {
      parseBearerHeader(header);
    } catch (err: unknown) {
      expect((err as CfAuthError).reason).toBe(reason);
    }
  });
});

describe('SecretToken', () => {
  it('redacts itself everywhere but reveal()', () => {
    const t = new SecretToken('very-secret');
    expect(t.reveal()).toBe('very-secret');
    for (const printed of [String(t), `${t.toString()}`, JSON.stringify({ t }), inspect({ t })]) {
      expect(printed.includes('very-secret')).toBe(false);
    }
  });
});
