/**
 * A small foundation for the libs/cf specs: a UAA double and a CC double with one org, two spaces, a three-instance
 * app (one DOWN) in space "dev", another app in space "other", and users in each role the authorizer cares about.
 */
import { CcDouble, type CcDoubleModel } from '../../../test/support/cc-double';
import { UaaDouble, type UaaDoubleUser } from '../../../test/support/uaa-double';

export const ORG = { guid: 'b1f0a8a6-0000-4000-8000-000000000001', name: 'acme' };
export const SPACE_DEV = { guid: '2f35885d-0c9d-4423-83ad-fd05066f8576', name: 'dev', orgGuid: ORG.guid };
export const SPACE_OTHER = { guid: '2f35885d-0000-4000-8000-000000000002', name: 'other', orgGuid: ORG.guid };
export const APP = { guid: '1cb006ee-fb05-47e1-b541-c34179ddc446', name: 'my_app' };
export const OTHER_APP = { guid: '1cb006ee-0000-4000-8000-000000000003', name: 'other_app' };

const user = (id: string, userName: string, scopes?: string[]): UaaDoubleUser => ({
  id,
  userName,
  email: `${userName}@example.com`,
  ...(scopes === undefined ? {} : { scopes }),
});
const CF_READ = ['openid', 'cloud_controller.read', 'cloud_controller.write', 'uaa.user'];

export const USERS = {
  developer: user('u-dev', 'dev'),
  auditor: user('u-aud', 'auditor'),
  outsider: user('u-out', 'outsider'),
  admin: user('u-admin', 'admin', [...CF_READ, 'cloud_controller.admin']),
  readOnlyAdmin: user('u-roadmin', 'roadmin', [...CF_READ, 'cloud_controller.admin_read_only']),
  readOnlyAdminDeveloper: user('u-rodev', 'rodev', [...CF_READ, 'cloud_controller.admin_read_only']),
  globalAuditor: user('u-ga', 'ga', [...CF_READ, 'cloud_controller.global_auditor']),
};

export function model(): CcDoubleModel {
  return {
    orgs: [ORG],
    spaces: [{ ...SPACE_DEV }, { ...SPACE_OTHER }],
    apps: [
      {
        ...APP,
        spaceGuid: SPACE_DEV.guid,
        processes: [
          {
            type: 'web',
            instances: [
              {
                state: 'RUNNING',
                host: '10.244.16.10',
                instanceGuid: '092a6919-484d-48d8-66b7-f809',
                internalIp: '10.255.83.91',
              },
              { state: 'DOWN' },
              {
                state: 'RUNNING',
                host: '10.244.16.11',
                instanceGuid: '092a6919-484d-48d8-66b7-f810',
                internalIp: '10.255.83.92',
              },
            ],
          },
          { type: 'worker', instances: [{ state: 'CRASHED', host: '10.244.16.10' }] },
        ],
      },
      {
        ...OTHER_APP,
        spaceGuid: SPACE_OTHER.guid,
        processes: [{ type: 'web', instances: [{ state: 'RUNNING' }] }],
      },
    ],
    roles: [
      { type: 'space_developer', userGuid: USERS.developer.id, spaceGuid: SPACE_DEV.guid },
      { type: 'space_auditor', userGuid: USERS.auditor.id, spaceGuid: SPACE_DEV.guid },
      { type: 'space_developer', userGuid: USERS.outsider.id, spaceGuid: SPACE_OTHER.guid },
      { type: 'space_developer', userGuid: USERS.readOnlyAdminDeveloper.id, spaceGuid: SPACE_DEV.guid },
      { type: 'organization_user', userGuid: USERS.developer.id, orgGuid: ORG.guid },
    ],
    v3Version: '3.195.0',
  };
}

export interface CfWorld {
  readonly uaa: UaaDouble;
  readonly cc: CcDouble;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<CfWorld> {
  const uaa = await UaaDouble.start({ users: Object.values(USERS) });
  const cc = await CcDouble.start({ uaa, model: model() });
  return {
    uaa,
    cc,
    async stop() {
      await cc.stop();
      await uaa.stop();
    },
  };
}
