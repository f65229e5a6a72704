import { SecretToken } from '../uaa/secret-token';
import { CfAuthError, CfForbiddenError, CfNotFoundError, CfUnavailableError } from '../errors/cf.error';
import {
  APP,
  type CfWorld,
  ORG,
  SPACE_DEV,
  SPACE_OTHER,
  startWorld,
  USERS,
} from '../../test/cf-world.fixture';
import { CloudControllerClient } from './cloud-controller.client';

describe('CloudControllerClient against the CC double', () => {
  let world: CfWorld;
  let cc: CloudControllerClient;
  const as = (user: (typeof USERS)[keyof typeof USERS], requestId?: string) => ({
    token: new SecretToken(world.uaa.mintUserToken(user)),
    ...(requestId === undefined ? {} : { requestId }),
  });

  beforeEach(async () => {
    world = await startWorld();
    cc = new CloudControllerClient({ url: world.cc.url, timeoutMs: 2000 });
  });
  afterEach(async () => {
    cc.close();
    await world.stop();
  });

  it('reads the root document', async () => {
    await expect(cc.root()).resolves.toEqual({
      v3Version: '3.195.0',
      uaaUrl: world.uaa.url,
      loginUrl: world.uaa.url,
    });
  });

  it('gets an app by guid and by name (case-insensitive) within a space', async () => {
    const byGuid = await cc.getApp(as(USERS.developer), APP.guid);
    expect(byGuid).toEqual({ guid: APP.guid, name: APP.name, state: 'STARTED', spaceGuid: SPACE_DEV.guid });
    await expect(cc.findAppByName(as(USERS.developer), SPACE_DEV.guid, 'MY_APP')).resolves.toEqual(byGuid);
    await expect(cc.findAppByName(as(USERS.developer), SPACE_OTHER.guid, APP.name)).rejects.toBeInstanceOf(
      CfNotFoundError,
    );
  });

  it('passes the user token through and propagates x-vcap-request-id', async () => {
    await cc.getApp(as(USERS.developer, 'req-123'), APP.guid);
    const seen = world.cc.requests.find((r) => r.path === `/v3/apps/${APP.guid}`);
    expect(seen).toEqual({
      method: 'GET',
      path: `/v3/apps/${APP.guid}`,
      requestId: 'req-123',
      hadAuthorization: true,
    });
  });

  it('reads permissions per role', async () => {
    const perms = async (u: (typeof USERS)[keyof typeof USERS]) =>
      (await cc.getAppPermissions(as(u), APP.guid)).readSensitiveData;
    await expect(perms(USERS.developer)).resolves.toBe(true);
    await expect(perms(USERS.auditor)).resolves.toBe(false);
    await expect(perms(USERS.admin)).resolves.toBe(true);
    await expect(perms(USERS.readOnlyAdmin)).resolves.toBe(true);
    await expect(perms(USERS.globalAuditor)).resolves.toBe(false);
  });

  it('reads ssh_enabled with CC reasons', async () => {
    await expect(cc.getSshEnabled(as(USERS.developer), APP.guid)).resolves.toEqual({
      enabled: true,
      reason: '',
    });
    world.cc.model.sshEnabledGlobally = false;
    await expect(cc.getSshEnabled(as(USERS.developer), APP.guid)).resolves.toEqual({
      enabled: false,
      reason: 'Disabled globally',
    });
  });

  it('lists processes and reads stats with DOWN entries', async () => {
    const processes = await cc.listProcesses(as(USERS.developer), APP.guid);
    expect(processes.map((p) => [p.type, p.instances])).toEqual([
      ['web', 3],
      ['worker', 1],
    ]);
    const stats = await cc.getProcessStats(as(USERS.developer), APP.guid, 'web');
    expect(stats).toEqual([
      {
        type: 'web',
        index: 0,
        state: 'RUNNING',
        host: '10.244.16.10',
        instanceGuid: '092a6919-484d-48d8-66b7-f809',
        internalIp: '10.255.83.91',
        uptimeSeconds: 9042,
      },
      { type: 'web', index: 1, state: 'DOWN' },
      {
        type: 'web',
        index: 2,
        state: 'RUNNING',
        host: '10.244.16.11',
        instanceGuid: '092a6919-484d-48d8-66b7-f810',
        internalIp: '10.255.83.92',
        uptimeSeconds: 9042,
      },
    ]);
    await expect(cc.getProcessStats(as(USERS.developer), APP.guid, 'nope')).rejects.toThrow(
      "has no process of type 'nope'",
    );
  });

  it('reads stats of an older CC without instance_guid', async () => {
    world.cc.model.v3Version = '3.180.0';
    const stats = await cc.getProcessStats(as(USERS.developer), APP.guid, 'web');
    expect(stats[0]).toEqual({
      type: 'web',
      index: 0,
      state: 'RUNNING',
      host: '10.244.16.10',
      internalIp: '10.255.83.91',
      uptimeSeconds: 9042,
    });
  });

  it('reads space and organization names', async () => {
    await expect(cc.getSpace(as(USERS.developer), SPACE_DEV.guid)).resolves.toEqual(SPACE_DEV);
    await expect(cc.getOrganization(as(USERS.developer), ORG.guid)).resolves.toEqual(ORG);
  });

  it('follows role pagination', async () => {
    for (let i = 0; i < 120; i += 1) {
      world.cc.model.roles.push({ type: 'space_developer', userGuid: `u-${i}`, spaceGuid: SPACE_DEV.guid });
    }
    const admin = as(USERS.admin);
    const roles = await cc.listRoles(admin, { types: ['space_developer'], spaceGuids: [SPACE_DEV.guid] });
    expect(roles).toHaveLength(122);
    expect(new Set(roles.map((r) => r.spaceGuid))).toEqual(new Set([SPACE_DEV.guid]));
    expect(world.cc.count('/v3/roles')).toBe(3);
    await expect(cc.isSpaceDeveloper(admin, SPACE_DEV.guid, USERS.developer.id)).resolves.toBe(true);
    await expect(cc.isSpaceDeveloper(admin, SPACE_DEV.guid, USERS.auditor.id)).resolves.toBe(false);
  });

  it('works with a client-credentials token', async () => {
    world.uaa.addClient({ id: 'pcap-api', secret: 'x', authorities: ['cloud_controller.admin'] });
    const ctx = { token: new SecretToken(world.uaa.mintClientToken('pcap-api')) };
    await expect(cc.isSpaceDeveloper(ctx, SPACE_DEV.guid, USERS.developer.id)).resolves.toBe(true);
  });

  describe('error mapping', () => {
    it('401 on an invalid token → CfAuthError rejected_by_upstream', async () => {
      const forged = {
        token: new SecretToken(world.uaa.mintUserToken(USERS.developer, {}, { foreignKey: true })),
      };
      const err = await cc.getApp(forged, APP.guid).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CfAuthError);
      expect((err as CfAuthError).reason).toBe('rejected_by_upstream');
      expect((err as Error).message).toContain('CF-InvalidAuthToken: Invalid Auth Token');
    });

    it('404 for an app the user cannot see, as for an unknown one', async () => {
      await expect(cc.getApp(as(USERS.outsider), APP.guid)).rejects.toThrow(
        new CfNotFoundError(`App '${APP.guid}' not found.`),
      );
      await expect(cc.getApp(as(USERS.developer), 'no-such-app')).rejects.toBeInstanceOf(CfNotFoundError);
    });

    it('403 on insufficient scope → CfForbiddenError with CC detail', async () => {
      const token = world.uaa.mintUserToken(
        { ...USERS.developer, scopes: ['openid'] },
        { aud: ['cloud_controller'] },
      );
      await expect(cc.getApp({ token: new SecretToken(token) }, APP.guid)).rejects.toThrow(
        new CfForbiddenError(
          'Cloud Controller refused: Your token lacks the necessary scopes to access this resource..',
        ),
      );
    });

    it('5xx → CfUnavailableError naming CC', async () => {
      world.cc.fault('/v3/apps', {
        kind: 'status',
        status: 502,
        body: { errors: [{ code: 10001, title: 'CF-ServerError', detail: 'An unknown error occurred.' }] },
      });
      const err = await cc.getApp(as(USERS.developer), APP.guid).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CfUnavailableError);
      expect((err as Error).message).toMatch(
        /^Cloud Controller at http:\/\/127\.0\.0\.1:\d+ failed .*CF-ServerError/,
      );
    });

    it('an unreadable body → CfUnavailableError', async () => {
      world.cc.fault('/v3/apps', { kind: 'status', status: 200, body: { surprise: true } });
      await expect(cc.getApp(as(USERS.developer), APP.guid)).rejects.toThrow(
        /returned an app we cannot read/,
      );
    });

    it('CC unreachable → CfUnavailableError naming CC', async () => {
      await world.cc.stop();
      const err = await cc.getApp(as(USERS.developer), APP.guid).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CfUnavailableError);
      expect((err as CfUnavailableError).system).toBe('Cloud Controller');
      expect((err as Error).message).toMatch(/^Cloud Controller at .* is unavailable: .*ECONNREFUSED/);
    });

    it('CC hanging → CfUnavailableError after the timeout', async () => {
      world.cc.fault('/v3/apps', { kind: 'hang' });
      const quick = new CloudControllerClient({ url: world.cc.url, timeoutMs: 150 });
      await expect(quick.getApp(as(USERS.developer), APP.guid)).rejects.toThrow(/no answer within 150 ms/);
      quick.close();
    });

    it('refuses to follow a pagination link to another host', async () => {
      world.cc.fault('/v3/roles', {
        kind: 'status',
        status: 200,
        body: {
          pagination: {
            total_results: 2,
            total_pages: 2,
            next: { href: 'https://evil.example/v3/roles?page=2' },
          },
          resources: [],
        },
      });
      await expect(cc.listRoles(as(USERS.admin), {})).rejects.toThrow(/another host/);
    });
  });
});
