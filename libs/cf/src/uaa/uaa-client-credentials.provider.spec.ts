import { UaaDouble } from '../../../../test/support/uaa-double';
import { CfAuthError, CfUnavailableError } from '../errors/cf.error';
import { UaaClientCredentialsProvider } from './uaa-client-credentials.provider';
import { UaaTokenValidator } from './uaa-token.validator';

describe('UaaClientCredentialsProvider', () => {
  let uaa: UaaDouble;
  beforeEach(async () => {
    uaa = await UaaDouble.start({
      clients: [{ id: 'pcap-api', secret: 'p@ss:word', authorities: ['cloud_controller.admin'] }],
    });
  });
  afterEach(async () => {
    await uaa.stop();
  });

  it('fetches a token with Basic auth, caches it until shortly before expiry', async () => {
    let now = Date.now();
    const provider = new UaaClientCredentialsProvider({
      uaa: { url: uaa.url },
      clientId: 'pcap-api',
      clientSecret: 'p@ss:word',
      clock: () => now,
    });
    const [a, b] = await Promise.all([provider.token('req-1'), provider.token()]);
    expect(a).toBe(b);
    expect(uaa.count('/oauth/token')).toBe(1);
    const validator = new UaaTokenValidator({ uaa: { url: uaa.url } });
    await expect(validator.validate(a.reveal())).resolves.toMatchObject({
      clientId: 'pcap-api',
      isClient: true,
      isAdmin: true,
    });
    now += 1000 * 1000;
    await provider.token();
    expect(uaa.count('/oauth/token')).toBe(1);
    now += 200 * 1000;
    const c = await provider.token();
    expect(c).not.toBe(a);
    expect(uaa.count('/oauth/token')).toBe(2);
    provider.close();
    validator.close();
  });

  it('wrong secret → CfAuthError without the secret in the message', async () => {
    const provider = new UaaClientCredentialsProvider({
      uaa: { url: uaa.url },
      clientId: 'pcap-api',
      clientSecret: 'wrong-secret',
    });
    const err = await provider.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CfAuthError);
    expect((err as Error).message.includes('wrong-secret')).toBe(false);
    provider.close();
  });

  it('UAA down → CfUnavailableError, not cached', async () => {
    const provider = new UaaClientCredentialsProvider({
      uaa: { url: uaa.url },
      clientId: 'pcap-api',
      clientSecret: 'p@ss:word',
    });
    uaa.fault('/oauth/token', { kind: 'status', status: 503 });
    await expect(provider.token()).rejects.toBeInstanceOf(CfUnavailableError);
    uaa.clearFaults();
    await expect(provider.token()).resolves.toBeDefined();
    provider.close();
  });

  it('the double also serves refresh_token and password grants as UAA does', async () => {
    uaa.addUser({ id: 'u1', userName: 'alice', password: 'pw' });
    uaa.addClient({ id: 'cf', secret: '' });
    const basic = `Basic ${Buffer.from('cf:').toString('base64')}`;
    const post = async (form: Record<string, string>) =>
      (await fetch(`${uaa.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
      }).then((r) => r.json())) as { access_token: string; refresh_token: string; token_type: string };
    const first = await post({ grant_type: 'password', username: 'alice', password: 'pw' });
    expect(first.token_type).toBe('bearer');
    const validator = new UaaTokenValidator({ uaa: { url: uaa.url } });
    await expect(validator.validate(first.refresh_token)).rejects.toMatchObject({ reason: 'refresh_token' });
    const second = await post({ grant_type: 'refresh_token', refresh_token: first.refresh_token });
    await expect(validator.validate(second.access_token)).resolves.toMatchObject({
      userId: 'u1',
      userName: 'alice',
    });
    validator.close();
  });
});
