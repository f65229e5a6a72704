import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';

import { UaaDouble, type UaaDoubleUser } from '../../../../test/support/uaa-double';
import { CfAuthError, type CfAuthReason, CfUnavailableError } from '../errors/cf.error';
import { UaaTokenValidator, type UaaTokenValidatorOptions } from './uaa-token.validator';

const alice: UaaDoubleUser = { id: 'alice-guid', userName: 'alice', email: 'alice@example.com' };

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err: unknown) {
    if (err instanceof CfAuthError) return err.reason;
    return err instanceof Error ? err.name : 'unknown';
  }
}

/** Replace the signature part of a JWT, keeping header and claims. */
function withSignature(token: string, signature: string): string {
  const [h, p] = token.split('.');
  return `${h}.${p}.${signature}`;
}

describe('UaaTokenValidator', () => {
  let uaa: UaaDouble;
  let now: number;
  const validator = (extra: Partial<UaaTokenValidatorOptions> = {}): UaaTokenValidator =>
    new UaaTokenValidator({
      uaa: { url: uaa.url },
      clock: () => now,
      keyRefetchIntervalMs: 30_000,
      ...extra,
    });

  beforeEach(async () => {
    uaa = await UaaDouble.start({ users: [alice] });
    now = Date.now();
  });
  afterEach(async () => {
    await uaa.stop();
  });

  it('accepts a cf CLI user token and builds the principal', async () => {
    const v = validator();
    const p = await v.validateHeader(`bearer ${uaa.mintUserToken(alice)}`);
    expect(p).toMatchObject({
      userId: 'alice-guid',
      userName: 'alice',
      email: 'alice@example.com',
      clientId: 'cf',
      isClient: false,
      isAdmin: false,
      isAdminReadOnly: false,
      isGlobalAuditor: false,
      issuer: uaa.issuer,
    });
    expect(p.scopes).toContain('cloud_controller.read');
    expect(p.expiresAt.getTime()).toBeGreaterThan(now);
    v.close();
  });

  it('takes the scheme case-insensitively', async () => {
    const v = validator();
    const token = uaa.mintUserToken(alice);
    await expect(reasonOf(v.validateHeader(`Bearer ${token}`))).resolves.toBe('accepted');
    await expect(reasonOf(v.validateHeader(`BEARER ${token}`))).resolves.toBe('accepted');
    v.close();
  });

  it('never prints the raw token', async () => {
    const v = validator();
    const token = uaa.mintUserToken(alice);
    const p = await v.validate(token);
    expect(p.rawToken.reveal() === token).toBe(true);
    const printed = [String(p.rawToken), JSON.stringify(p), inspect(p), `${p.rawToken.toString()}`];
    expect(printed.some((s) => s.includes(token))).toBe(false);
    expect(JSON.stringify(p)).toContain('[redacted token]');
    v.close();
  });

  it('sets the admin flags from the scopes', async () => {
    const v = validator();
    const admin = await v.validate(uaa.mintUserToken({ ...alice, scopes: ['cloud_controller.admin'] }));
    expect([admin.isAdmin, admin.isAdminReadOnly, admin.isGlobalAuditor]).toEqual([true, false, false]);
    const ro = await v.validate(
      uaa.mintUserToken({ ...alice, scopes: ['cloud_controller.read', 'cloud_controller.admin_read_only'] }),
    );
    expect([ro.isAdmin, ro.isAdminReadOnly, ro.isGlobalAuditor]).toEqual([false, true, false]);
    const both = await v.validate(
      uaa.mintUserToken({ ...alice, scopes: ['cloud_controller.admin', 'cloud_controller.admin_read_only'] }),
    );
    expect([both.isAdmin, both.isAdminReadOnly]).toEqual([true, false]);
    const ga = await v.validate(
      uaa.mintUserToken({ ...alice, scopes: ['cloud_controller.read', 'cloud_controller.global_auditor'] }),
    );
    expect([ga.isAdmin, ga.isAdminReadOnly, ga.isGlobalAuditor]).toEqual([false, false, true]);
    v.close();
  });

  it('treats a client-credentials token as a client principal', async () => {
    uaa.addClient({ id: 'pcap-api', secret: 's3cret', authorities: ['cloud_controller.admin'] });
    const v = validator();
    const p = await v.validate(uaa.mintClientToken('pcap-api'));
    expect(p).toMatchObject({
      userId: 'pcap-api',
      userName: 'pcap-api',
      clientId: 'pcap-api',
      isClient: true,
      isAdmin: true,
    });
    v.close();
  });

  describe('rejects, each with its own reason', () => {
    const cases: ReadonlyArray<[string, () => string | undefined, CfAuthReason]> = [
      ['a missing header', () => undefined, 'missing_token'],
      ['an empty header', () => '   ', 'missing_token'],
      ['another scheme', () => `Basic ${Buffer.from('cf:').toString('base64')}`, 'malformed_token'],
      ['bearer without token', () => 'bearer', 'malformed_token'],
      ['a token that is not a JWT', () => 'bearer not-a-jwt', 'malformed_token'],
      ['a JWT with garbage claims', () => 'bearer eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln', 'malformed_token'],
      [
        'a token without sub',
        () => `bearer ${uaa.mintUserToken(alice, { sub: undefined })}`,
        'malformed_token',
      ],
      ['alg none', () => `bearer ${uaa.mintUserToken(alice, {}, { alg: 'none' })}`, 'unsupported_algorithm'],
      [
        'HS256 keyed with the public key',
        () => `bearer ${uaa.mintUserToken(alice, {}, { alg: 'HS256' })}`,
        'unsupported_algorithm',
      ],
      [
        'a signature by another key under the same kid',
        () => `bearer ${uaa.mintUserToken(alice, {}, { foreignKey: true })}`,
        'bad_signature',
      ],
      [
        'a tampered signature',
        () => `bearer ${withSignature(uaa.mintUserToken(alice), 'AAAA')}`,
        'bad_signature',
      ],
      [
        'a key UAA does not publish',
        () => `bearer ${uaa.mintUserToken(alice, {}, { kid: 'key-unknown' })}`,
        'unknown_key',
      ],
      ['an expired token', () => `bearer ${uaa.mintUserToken(alice, {}, { expiresIn: -120 })}`, 'expired'],
      [
        'nbf in the future',
        () => `bearer ${uaa.mintUserToken(alice, { nbf: Math.floor(now / 1000) + 600 })}`,
        'not_yet_valid',
      ],
      [
        'iat in the future',
        () => `bearer ${uaa.mintUserToken(alice, { iat: Math.floor(now / 1000) + 600 })}`,
        'not_yet_valid',
      ],
      [
        'another issuer',
        () => `bearer ${uaa.mintUserToken(alice, { iss: 'https://uaa.evil.example/oauth/token' })}`,
        'wrong_issuer',
      ],
      ['no issuer', () => `bearer ${uaa.mintUserToken(alice, { iss: undefined })}`, 'wrong_issuer'],
      [
        'an audience without cloud_controller',
        () => `bearer ${uaa.mintUserToken(alice, { aud: ['cf', 'openid'] })}`,
        'wrong_audience',
      ],
      ['a refresh token', () => `bearer ${uaa.mintRefreshToken(alice)}`, 'refresh_token'],
      ['a jti ending in -r', () => `bearer ${uaa.mintUserToken(alice, { jti: 'abc-r' })}`, 'refresh_token'],
      [
        'no cloud_controller.read or .admin',
        () =>
          `bearer ${uaa.mintUserToken({ ...alice, scopes: ['openid', 'cloud_controller.write'] }, { aud: ['cloud_controller', 'cf'] })}`,
        'insufficient_scope',
      ],
    ];
    it.each(cases)('%s', async (_name, header, reason) => {
      const v = validator();
      await expect(reasonOf(v.validateHeader(header()))).resolves.toBe(reason);
      v.close();
    });

    it('HS256 signed with the public key is refused before any key lookup', async () => {
      const v = validator();
      const pem = (await (await fetch(`${uaa.url}/token_key`)).json()) as { value: string };
      const [h, p] = uaa.mintUserToken(alice).split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'key-1', typ: 'JWT' })).toString(
        'base64url',
      );
      const sig = createHmac('sha256', pem.value).update(`${header}.${p}`).digest('base64url');
      expect(h).toBeDefined();
      await expect(reasonOf(v.validate(`${header}.${p}.${sig}`))).resolves.toBe('unsupported_algorithm');
      expect(uaa.count('/token_keys')).toBe(0);
      v.close();
    });

    it('gives a person-readable message without the token', async () => {
      const v = validator();
      const token = uaa.mintUserToken(alice, {}, { expiresIn: -120 });
      const err = await v.validate(token).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CfAuthError);
      const message = (err as CfAuthError).message;
      expect(message).toMatch(/expired at .*log in again/);
      expect(message.includes(token)).toBe(false);
      expect((err as CfAuthError).code).toBe('UNAUTHENTICATED');
      v.close();
    });
  });

  it('allows the configured leeway on exp and nbf', async () => {
    const v = validator({ leewaySeconds: 60 });
    const nowS = Math.floor(now / 1000);
    await expect(reasonOf(v.validate(uaa.mintUserToken(alice, {}, { expiresIn: -30 })))).resolves.toBe(
      'accepted',
    );
    await expect(reasonOf(v.validate(uaa.mintUserToken(alice, { nbf: nowS + 30 })))).resolves.toBe(
      'accepted',
    );
    await expect(reasonOf(v.validate(uaa.mintUserToken(alice, {}, { expiresIn: -90 })))).resolves.toBe(
      'expired',
    );
    const strict = validator({ leewaySeconds: 0 });
    await expect(reasonOf(strict.validate(uaa.mintUserToken(alice, {}, { expiresIn: -5 })))).resolves.toBe(
      'expired',
    );
    v.close();
    strict.close();
  });

  it('uses the issuer from openid-configuration once, or a configured one without asking', async () => {
    const v = validator();
    await v.validate(uaa.mintUserToken(alice));
    await v.validate(uaa.mintUserToken(alice));
    expect(uaa.count('/.well-known/openid-configuration')).toBe(1);
    const configured = validator({ issuer: 'https://uaa.example.org/oauth/token' });
    await expect(reasonOf(configured.validate(uaa.mintUserToken(alice)))).resolves.toBe('wrong_issuer');
    await expect(
      reasonOf(configured.validate(uaa.mintUserToken(alice, { iss: 'https://uaa.example.org/oauth/token' }))),
    ).resolves.toBe('accepted');
    expect(uaa.count('/.well-known/openid-configuration')).toBe(1);
    v.close();
    configured.close();
  });

  it('never fetches keys from the token jku', async () => {
    const elsewhere = await UaaDouble.start({ users: [alice] });
    try {
      const v = validator();
      const token = elsewhere.mintUserToken(alice, { iss: uaa.issuer });
      await expect(reasonOf(v.validate(token))).resolves.toBe('bad_signature');
      expect(elsewhere.count('/token_keys')).toBe(0);
      v.close();
    } finally {
      await elsewhere.stop();
    }
  });

  describe('keys', () => {
    it('caches keys by kid', async () => {
      const v = validator();
      for (let i = 0; i < 5; i += 1) await v.validate(uaa.mintUserToken(alice));
      expect(uaa.count('/token_keys')).toBe(1);
      v.close();
    });

    it('accepts a token signed with a rotated-in key after one refetch', async () => {
      const v = validator();
      await v.validate(uaa.mintUserToken(alice));
      uaa.rotateKey('key-2');
      now += 31_000;
      const p = await v.validate(uaa.mintUserToken(alice, {}, { now: Math.floor(now / 1000) }));
      expect(p.userId).toBe('alice-guid');
      expect(uaa.count('/token_keys')).toBe(2);
      await v.validate(uaa.mintUserToken(alice, {}, { kid: 'key-1', now: Math.floor(now / 1000) }));
      expect(uaa.count('/token_keys')).toBe(2);
      v.close();
    });

    it('reads the n/e JWK when the PEM value is missing', async () => {
      const v = validator();
      const jwk = (await (await fetch(`${uaa.url}/token_key`)).json()) as Record<string, unknown>;
      uaa.fault('/token_keys', {
        kind: 'status',
        status: 200,
        body: { keys: [{ ...jwk, value: undefined }] },
      });
      await expect(reasonOf(v.validate(uaa.mintUserToken(alice)))).resolves.toBe('accepted');
      v.close();
    });

    it('rate-limits refetches so a flood of unknown kids cannot hammer UAA', async () => {
      const v = validator();
      await v.validate(uaa.mintUserToken(alice));
      now += 31_000;
      const forged = Array.from({ length: 20 }, (_, i) =>
        uaa.mintUserToken(alice, {}, { kid: `forged-${i}` }),
      );
      const reasons = await Promise.all(forged.map((t) => reasonOf(v.validate(t))));
      expect(new Set(reasons)).toEqual(new Set(['unknown_key']));
      expect(uaa.count('/token_keys')).toBe(2);
      const badSigs = Array.from({ length: 10 }, () => uaa.mintUserToken(alice, {}, { foreignKey: true }));
      const sigReasons = await Promise.all(badSigs.map((t) => reasonOf(v.validate(t))));
      expect(new Set(sigReasons)).toEqual(new Set(['bad_signature']));
      expect(uaa.count('/token_keys')).toBe(2);
      v.close();
    });

    it('a rotated key is refused while refetching is rate-limited, accepted once allowed', async () => {
      const v = validator();
      await v.validate(uaa.mintUserToken(alice));
      uaa.rotateKey('key-2');
      await expect(reasonOf(v.validate(uaa.mintUserToken(alice)))).resolves.toBe('unknown_key');
      now += 31_000;
      await expect(
        reasonOf(v.validate(uaa.mintUserToken(alice, {}, { now: Math.floor(now / 1000) }))),
      ).resolves.toBe('accepted');
      v.close();
    });

    it('a replaced key under the same kid is picked up by the refetch on a failed signature', async () => {
      const v = validator();
      await v.validate(uaa.mintUserToken(alice));
      uaa.rotateKey('key-1', { retireOld: true });
      now += 31_000;
      await expect(
        reasonOf(v.validate(uaa.mintUserToken(alice, {}, { now: Math.floor(now / 1000) }))),
      ).resolves.toBe('accepted');
      v.close();
    });
  });

  it('reports an unreachable UAA as unavailable, not as a bad token', async () => {
    const v = validator();
    const token = uaa.mintUserToken(alice);
    await uaa.stop();
    const err = await v.validate(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CfUnavailableError);
    expect((err as CfUnavailableError).message).toMatch(/^UAA at http:\/\/127\.0\.0\.1:\d+ is unavailable/);
    v.close();
  });

  it('reports a UAA that answers 500 on token_keys as unavailable', async () => {
    const v = validator();
    uaa.fault('/token_keys', { kind: 'status', status: 500 });
    await expect(reasonOf(v.validate(uaa.mintUserToken(alice)))).resolves.toBe('CfUnavailableError');
    v.close();
  });

  it('times out on a hanging UAA', async () => {
    const v = validator({ uaa: { url: uaa.url, timeoutMs: 200 } });
    uaa.fault('/token_keys', { kind: 'hang' });
    const err = await v.validate(uaa.mintUserToken(alice)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CfUnavailableError);
    expect((err as Error).message).toContain('no answer within 200 ms');
    v.close();
  });

  describe('BOSH mode', () => {
    it('requires the configured scope and skips the cloud_controller audience', async () => {
      const bosh = UaaTokenValidator.forBosh({ uaa: { url: uaa.url }, clock: () => now });
      const boshToken = uaa.mintUserToken(
        { ...alice, scopes: ['openid', 'bosh.admin'] },
        { client_id: 'bosh_cli', cid: 'bosh_cli', azp: 'bosh_cli' },
      );
      const p = await bosh.validate(boshToken);
      expect(p.scopes).toContain('bosh.admin');
      expect(p.clientId).toBe('bosh_cli');
      await expect(
        reasonOf(bosh.validate(uaa.mintUserToken({ ...alice, scopes: ['openid', 'bosh.read'] }))),
      ).resolves.toBe('insufficient_scope');
      bosh.close();
    });

    it('can require an audience and another scope', async () => {
      const bosh = UaaTokenValidator.forBosh({
        uaa: { url: uaa.url },
        clock: () => now,
        policy: { audience: 'bosh', anyOfScopes: ['bosh.read'] },
      });
      await expect(
        reasonOf(bosh.validate(uaa.mintUserToken({ ...alice, scopes: ['bosh.read'] }))),
      ).resolves.toBe('accepted');
      await expect(
        reasonOf(
          bosh.validate(uaa.mintUserToken({ ...alice, scopes: ['bosh.read'] }, { aud: ['bosh_cli'] })),
        ),
      ).resolves.toBe('wrong_audience');
      bosh.close();
    });
  });
});
