import { APP, type CfWorld, ORG, OTHER_APP, SPACE_DEV, startWorld, USERS } from '../../test/cf-world.fixture';
import { CfForbiddenError, CfNotFoundError, CfUnavailableError } from '../errors/cf.error';
import { UaaTokenValidator } from '../uaa/uaa-token.validator';
import { type UaaPrincipal } from '../uaa/uaa-principal.model';
import { CaptureAuthorizer, type CapturePolicy, DEFAULT_CAPTURE_POLICY } from './capture.authorizer';
import { CaptureTargetResolver } from './capture-target.resolver';
import { CloudControllerClient } from './cloud-controller.client';

type Outcome = 'allowed' | 'FORBIDDEN' | 'NOT_FOUND' | 'UNAVAILABLE' | 'UNAUTHENTICATED';

describe('CaptureAuthorizer and CaptureTargetResolver', () => {
  let world: CfWorld;
  let cc: CloudControllerClient;
  let validator: UaaTokenValidator;
  let authorizer: CaptureAuthorizer;

  const principal = (user: (typeof USERS)[keyof typeof USERS]): Promise<UaaPrincipal> =>
    validator.validate(world.uaa.mintUserToken(user));
  const outcome = async (
    user: (typeof USERS)[keyof typeof USERS],
    policy: Partial<CapturePolicy> = {},
    appGuid = APP.guid,
  ): Promise<Outcome> => {
    try {
      await authorizer.authorize({
        principal: await principal(user),
        appGuid,
        policy: { ...DEFAULT_CAPTURE_POLICY, ...policy },
      });
      return 'allowed';
    } catch (err: unknown) {
      if (
        err instanceof CfForbiddenError ||
        err instanceof CfNotFoundError ||
        err instanceof CfUnavailableError
      ) {
        return err.code;
      }
      throw err;
    }
  };

  beforeAll(async () => {
    world = await startWorld();
    cc = new CloudControllerClient({ url: world.cc.url, timeoutMs: 2000 });
    validator = new UaaTokenValidator({ uaa: { url: world.uaa.url } });
    authorizer = new CaptureAuthorizer(cc);
  });
  afterAll(async () => {
    cc.close();
    validator.close();
    await world.stop();
  });
  afterEach(() => {
    world.cc.model.sshEnabledGlobally = undefined;
    world.cc.clearFaults();
  });

  it.each<[string, (typeof USERS)[keyof typeof USERS], Partial<CapturePolicy>, Outcome]>([
    ['space developer', USERS.developer, {}, 'allowed'],
    ['space auditor', USERS.auditor, {}, 'FORBIDDEN'],
    ['developer of another space', USERS.outsider, {}, 'NOT_FOUND'],
    ['admin', USERS.admin, {}, 'allowed'],
    ['global auditor', USERS.globalAuditor, {}, 'FORBIDDEN'],
    ['read-only admin', USERS.readOnlyAdmin, {}, 'FORBIDDEN'],
    [
      'read-only admin, allowed by the operator',
      USERS.readOnlyAdmin,
      { allowReadOnlyAdmins: true },
      'allowed',
    ],
    ['read-only admin who is a space developer there', USERS.readOnlyAdminDeveloper, {}, 'allowed'],
    ['space developer, admins only', USERS.developer, { adminsOnly: true }, 'FORBIDDEN'],
    ['admin, admins only', USERS.admin, { adminsOnly: true }, 'allowed'],
    [
      'read-only admin allowed, admins only',
      USERS.readOnlyAdmin,
      { adminsOnly: true, allowReadOnlyAdmins: true },
      'allowed',
    ],
    ['space developer, ssh required and enabled', USERS.developer, { requireSshEnabled: true }, 'allowed'],
  ])('%s → %s', async (_name, user, policy, expected) => {
    await expect(outcome(user, policy)).resolves.toBe(expected);
  });

  it('an unknown app is 404', async () => {
    await expect(outcome(USERS.admin, {}, 'no-such-app')).resolves.toBe('NOT_FOUND');
  });

  it('explains a missing developer role', async () => {
    const p = await principal(USERS.auditor);
    await expect(
      authorizer.authorize({ principal: p, appGuid: APP.guid, policy: DEFAULT_CAPTURE_POLICY }),
    ).rejects.toThrow(/needs the space developer role/);
  });

  it('ssh disabled when required → 403 with CC reason; ignored when not required', async () => {
    world.cc.model.sshEnabledGlobally = false;
    const p = await principal(USERS.developer);
    await expect(
      authorizer.authorize({
        principal: p,
        appGuid: APP.guid,
        policy: { ...DEFAULT_CAPTURE_POLICY, requireSshEnabled: true },
      }),
    ).rejects.toThrow(
      new CfForbiddenError(
        `Packet capture requires SSH access to app '${APP.name}', and SSH is not enabled: Disabled globally.`,
      ),
    );
    await expect(outcome(USERS.developer)).resolves.toBe('allowed');
  });

  it('CC unreachable → unavailable', async () => {
    world.cc.fault('/v3/apps', { kind: 'reset' });
    await expect(outcome(USERS.developer)).resolves.toBe('UNAVAILABLE');
  });

  it('resolves targets with names, cells, handles and unavailable instances', async () => {
    const p = await principal(USERS.developer);
    const app = await authorizer.authorize({
      principal: p,
      appGuid: APP.guid,
      policy: DEFAULT_CAPTURE_POLICY,
    });
    const resolver = new CaptureTargetResolver(cc);
    const targets = await resolver.resolve({ ctx: { token: p.rawToken }, app });
    expect(targets.org).toEqual(ORG);
    expect(targets.space).toEqual({ guid: SPACE_DEV.guid, name: SPACE_DEV.name });
    expect(targets.app).toEqual(APP);
    expect(targets.processType).toBe('web');
    expect(targets.instances).toEqual([
      {
        index: 0,
        state: 'RUNNING',
        host: '10.244.16.10',
        instanceGuid: '092a6919-484d-48d8-66b7-f809',
        internalIp: '10.255.83.91',
        available: true,
      },
      { index: 1, state: 'DOWN', available: false, unavailableReason: 'instance 1 is DOWN' },
      {
        index: 2,
        state: 'RUNNING',
        host: '10.244.16.11',
        instanceGuid: '092a6919-484d-48d8-66b7-f810',
        internalIp: '10.255.83.92',
        available: true,
      },
    ]);
    const some = await resolver.resolve({ ctx: { token: p.rawToken }, app, indexes: [2, 7] });
    expect(some.instances.map((i) => [i.index, i.available, i.unavailableReason])).toEqual([
      [2, true, undefined],
      [7, false, "instance 7 does not exist (process 'web' has 3)"],
    ]);
    const worker = await resolver.resolve({ ctx: { token: p.rawToken }, app, processType: 'worker' });
    expect(worker.instances.map((i) => i.unavailableReason)).toEqual(['instance 0 is CRASHED']);
    await expect(
      resolver.resolve({ ctx: { token: p.rawToken }, app, processType: 'nope' }),
    ).rejects.toBeInstanceOf(CfNotFoundError);
  });

  it('the other app stays invisible to a developer of the first space', async () => {
    await expect(outcome(USERS.developer, {}, OTHER_APP.guid)).resolves.toBe('NOT_FOUND');
  });
});
