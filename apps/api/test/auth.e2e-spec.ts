/**
 * The auth matrix and bad inputs through the real API (Fastify, guard, exception filter) against the UAA and
 * Cloud Controller doubles. The app's one instance sits on a cell whose agent is not running, so a request that
 * passes every check ends in 503 NO_INSTANCE_CAPTURABLE naming the unreachable agent.
 */
import { createServer, type Server } from 'node:net';

import {
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  json,
  SPACE_DEV,
  SPACE_OTHER,
  startCfWorld,
  USERS,
} from '../../../test/support/api-harness';
import { ApiUnderTest } from './api-under-test';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000b001', name: 'my_app' };
const OTHER_APP = { guid: '1cb006ee-0000-4000-8000-00000000b002', name: 'other_app' };
const CELL = '10.244.16.10';

describe('pcap API: authentication, authorisation and bad input', () => {
  let world: CfWorld;
  let certs: ApiTestCerts;
  let api: ApiUnderTest;
  let closedPort: number;

  beforeAll(async () => {
    // A port nobody listens on: the "agent" of CELL.
    const probe: Server = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    world = await startCfWorld(
      baseModel([
        {
          ...APP,
          spaceGuid: SPACE_DEV.guid,
          processes: [
            {
              type: 'web',
              instances: [
                { state: 'RUNNING', host: CELL, instanceGuid: 'aaaa1111-2222-3333-4444-555555555555' },
              ],
            },
          ],
        },
        {
          ...OTHER_APP,
          spaceGuid: SPACE_OTHER.guid,
          processes: [{ type: 'web', instances: [{ state: 'RUNNING', host: CELL }] }],
        },
      ]),
    );
    certs = ApiTestCerts.create();
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        uaa: { key_refetch_interval_seconds: 0 },
        agents: { endpoints: { [CELL]: `127.0.0.1:${closedPort}` } },
        limits: { snaplen_max: 9000, max_duration_seconds: 600 },
      }),
    );
  }, 60000);

  afterAll(async () => {
    await api?.close();
    await world?.stop();
    certs?.destroy();
  });

  const capture = (authorization: string | undefined, body: unknown = { app_guid: APP.guid }) =>
    call(`${api.url}/captures`, {
      method: 'POST',
      headers: authorization === undefined ? {} : { authorization },
      body,
    });
  const bearer = (token: string): string => `bearer ${token}`;
  const devToken = (): string => world.uaa.mintUserToken(USERS.developer);

  it('GET /health needs no token', async () => {
    const res = await call(`${api.url}/health`);
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ healthy: true, state: 'healthy', activeCaptures: 0 });
  });

  describe('401 with the reason', () => {
    const cases: Array<[string, () => string | undefined, string]> = [
      ['missing token', () => undefined, 'missing_token'],
      ['malformed header', () => 'Basic Zm9vOmJhcg==', 'malformed_token'],
      ['not a JWT', () => 'bearer not.a.jwt', 'malformed_token'],
      [
        'wrong signature',
        () => bearer(world.uaa.mintUserToken(USERS.developer, {}, { foreignKey: true })),
        'bad_signature',
      ],
      [
        'unknown kid',
        () => bearer(world.uaa.mintUserToken(USERS.developer, {}, { kid: 'never-published' })),
        'unknown_key',
      ],
      [
        'expired',
        () => bearer(world.uaa.mintUserToken(USERS.developer, {}, { expiresIn: -3600 })),
        'expired',
      ],
      [
        'wrong issuer',
        () => bearer(world.uaa.mintUserToken(USERS.developer, { iss: 'https://evil.example/oauth/token' })),
        'wrong_issuer',
      ],
      [
        'wrong audience',
        () => bearer(world.uaa.mintUserToken(USERS.developer, { aud: ['uaa', 'openid'] })),
        'wrong_audience',
      ],
      ['refresh token', () => bearer(world.uaa.mintRefreshToken(USERS.developer)), 'refresh_token'],
      [
        'alg none',
        () => bearer(world.uaa.mintUserToken(USERS.developer, {}, { alg: 'none' })),
        'unsupported_algorithm',
      ],
      [
        'alg HS256 with the public key',
        () => bearer(world.uaa.mintUserToken(USERS.developer, {}, { alg: 'HS256' })),
        'unsupported_algorithm',
      ],
      [
        'no cloud_controller scope',
        () =>
          bearer(world.uaa.mintUserToken(USERS.developer, { scope: ['openid'], aud: ['cloud_controller'] })),
        'insufficient_scope',
      ],
    ];
    it.each(cases)('%s', async (_name, header, reason) => {
      const token = header();
      const res = await capture(token);
      expect(res.status).toBe(401);
      const body = json(res);
      expect(body).toMatchObject({ code: 'UNAUTHENTICATED', reason });
      expect(typeof body.message).toBe('string');
      // The answer never echoes the token.
      if (token !== undefined) expect(res.body.toString()).not.toContain(token.replace(/^bearer /, ''));
      expect(res.headers['x-vcap-request-id']).toEqual(expect.any(String));
    });
  });

  it('accepts a token signed with a rotated key (unknown kid → /token_keys refetched once)', async () => {
    const before = world.uaa.count('/token_keys');
    world.uaa.rotateKey('key-rotated');
    const res = await capture(bearer(devToken()));
    // Past authentication and authorisation: only the (absent) agent is missing.
    expect(json(res)).toMatchObject({ code: 'NO_INSTANCE_CAPTURABLE' });
    expect(res.status).toBe(503);
    expect(world.uaa.count('/token_keys')).toBe(before + 1);
  });

  it('403 for a space auditor and for a developer of another space; 404 for an unknown app', async () => {
    const auditor = await capture(bearer(world.uaa.mintUserToken(USERS.auditor)));
    expect(auditor.status).toBe(403);
    expect(json(auditor)).toMatchObject({ code: 'FORBIDDEN' });
    expect(String(json(auditor).message)).toContain('space developer');

    const outsider = await capture(bearer(world.uaa.mintUserToken(USERS.outsider)));
    expect(outsider.status).toBe(404);
    const outsiderOwn = await capture(bearer(world.uaa.mintUserToken(USERS.outsider)), {
      app_guid: OTHER_APP.guid,
    });
    expect(outsiderOwn.status).toBe(503);

    const unknown = await capture(bearer(devToken()), { app_guid: '1cb006ee-0000-4000-8000-00000000ffff' });
    expect(unknown.status).toBe(404);
    expect(json(unknown)).toMatchObject({ code: 'NOT_FOUND' });

    const process = await capture(bearer(devToken()), { app_guid: APP.guid, process_type: 'worker' });
    expect(process.status).toBe(404);
    expect(String(json(process).message)).toContain("'worker'");
  });

  it('finds the app by name within a space', async () => {
    const res = await capture(bearer(devToken()), { app_name: 'MY_APP', space_guid: SPACE_DEV.guid });
    expect(res.status).toBe(503);
    expect(String(json(res).message)).toContain(`127.0.0.1:${closedPort}`);
  });

  it('503 naming Cloud Controller when it is unreachable', async () => {
    world.cc.fault('/v3/apps', { kind: 'reset' });
    try {
      const res = await capture(bearer(devToken()));
      expect(res.status).toBe(503);
      expect(json(res)).toMatchObject({ code: 'UNAVAILABLE' });
      expect(String(json(res).message)).toContain('Cloud Controller');
    } finally {
      world.cc.clearFaults();
    }
  });

  it('503 listing every instance when none can be started', async () => {
    const res = await capture(bearer(devToken()), { app_guid: APP.guid, instances: [0, 4] });
    expect(res.status).toBe(503);
    const message = String(json(res).message);
    expect(message).toContain('instance 0 of my_app');
    expect(message).toContain('unreachable');
    expect(message).toContain('instance 4 does not exist');
  });

  describe('bad input → specific 4xx before any agent or Cloud Controller call', () => {
    const cases: Array<[string, Record<string, unknown>, number, string, string]> = [
      ['no app', {}, 400, 'BAD_REQUEST', 'app_guid'],
      ['unknown key', { app_guid: APP.guid, insatnces: [0] }, 400, 'BAD_REQUEST', 'insatnces'],
      [
        'app guid and name',
        { app_guid: APP.guid, app_name: 'x', space_guid: SPACE_DEV.guid },
        400,
        'BAD_REQUEST',
        'not both',
      ],
      ['bad guid', { app_guid: 'x; rm -rf /' }, 400, 'BAD_REQUEST', 'GUID'],
      ['bad device', { app_guid: APP.guid, device: '../eth0' }, 400, 'BAD_REQUEST', 'device'],
      [
        'filter not compiling',
        { app_guid: APP.guid, filter: 'tcp port http and (' },
        400,
        'INVALID_FILTER',
        'syntax error',
      ],
      ['filter not printable', { app_guid: APP.guid, filter: 'tcp\u0000' }, 400, 'BAD_REQUEST', 'filter'],
      [
        'filter too long',
        { app_guid: APP.guid, filter: 'tcp or '.repeat(800) + 'udp' },
        400,
        'BAD_REQUEST',
        '5000',
      ],
      [
        'snaplen over the cap',
        { app_guid: APP.guid, snaplen: 65535 },
        400,
        'REQUEST_OVER_LIMIT',
        'limits.snaplen_max = 9000',
      ],
      [
        'duration over the cap',
        { app_guid: APP.guid, duration_seconds: 601 },
        400,
        'REQUEST_OVER_LIMIT',
        'limits.max_duration_seconds = 600',
      ],
      ['negative limit', { app_guid: APP.guid, max_packets: -1 }, 400, 'BAD_REQUEST', 'max_packets'],
      ['unknown format', { app_guid: APP.guid, format: 'erf' }, 400, 'BAD_REQUEST', 'format'],
    ];
    it.each(cases)('%s', async (_name, body, status, code, text) => {
      const ccBefore = world.cc.requests.length;
      const res = await capture(bearer(devToken()), body);
      expect(res.status).toBe(status);
      expect(json(res)).toMatchObject({ code });
      expect(String(json(res).message)).toContain(text);
      expect(world.cc.requests.length).toBe(ccBefore);
    });

    it('a body that is not JSON', async () => {
      const res = await call(`${api.url}/captures`, {
        method: 'POST',
        headers: { authorization: bearer(devToken()), 'content-type': 'application/json' },
        body: undefined,
      });
      expect(res.status).toBe(400);
    });
  });

  it('the seed endpoint validates its query the same way', async () => {
    const bad = await call(`${api.url}/capture?appid=${APP.guid}&index=x`, {
      headers: { authorization: bearer(devToken()) },
    });
    expect(bad.status).toBe(400);
    expect(String(json(bad).message)).toContain("'x'");
    const none = await call(`${api.url}/capture?appid=${APP.guid}&index=0`, {
      headers: { authorization: bearer(devToken()) },
    });
    expect(none.status).toBe(503);
  });

  it('keeps a given x-vcap-request-id and forwards it to Cloud Controller', async () => {
    const res = await capture(bearer(devToken()));
    expect(res.status).toBe(503);
    const given = await call(`${api.url}/captures`, {
      method: 'POST',
      headers: { authorization: bearer(devToken()), 'x-vcap-request-id': 'req-abc-123' },
      body: { app_guid: APP.guid },
    });
    expect(given.headers['x-vcap-request-id']).toBe('req-abc-123');
    expect(json(given)).toMatchObject({ request_id: 'req-abc-123' });
    expect(world.cc.requests.some((r) => r.requestId === 'req-abc-123')).toBe(true);
  });
});
