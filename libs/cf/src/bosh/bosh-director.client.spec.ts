import { BoshDirectorDouble } from '../../../../test/support/bosh-director-double';
import { UaaDouble } from '../../../../test/support/uaa-double';
import { CfAuthError, CfNotFoundError, CfUnavailableError } from '../errors/cf.error';
import { SecretToken } from '../uaa/secret-token';
import { UaaTokenValidator } from '../uaa/uaa-token.validator';
import { BoshDirectorClient, selectBoshTargets } from './bosh-director.client';

const operator = { id: 'op-guid', userName: 'admin', scopes: ['openid', 'bosh.admin'] };

describe('BoshDirectorClient against the BOSH director double', () => {
  let uaa: UaaDouble;
  let director: BoshDirectorDouble;
  let client: BoshDirectorClient;
  const token = (): SecretToken =>
    new SecretToken(uaa.mintUserToken(operator, { client_id: 'bosh_cli', cid: 'bosh_cli', azp: 'bosh_cli' }));

  beforeEach(async () => {
    uaa = await UaaDouble.start();
    director = await BoshDirectorDouble.start({
      uaa,
      deployments: {
        cf: [
          { job: 'router', id: 'r-1', index: 0, ips: ['10.0.1.10'] },
          { job: 'router', id: 'r-2', index: 1, ips: ['10.0.1.11'] },
          { job: 'diego-cell', id: 'c-1', index: 0, ips: ['10.0.2.10', '10.0.3.10'] },
          { job: 'diego-cell', id: 'c-2', index: 1, ips: [] },
        ],
      },
    });
    client = new BoshDirectorClient({ url: director.url, timeoutMs: 2000 });
  });
  afterEach(async () => {
    client.close();
    await director.stop();
    await uaa.stop();
  });

  it('reads /info and finds the UAA, whose tokens the BOSH validator accepts', async () => {
    const info = await client.info();
    expect(info).toMatchObject({ name: 'bosh-lite', uuid: director.uuid, authType: 'uaa', uaaUrl: uaa.url });
    const validator = UaaTokenValidator.forBosh({ uaa: { url: info.uaaUrl ?? '' } });
    await expect(validator.validate(token().reveal())).resolves.toMatchObject({ userName: 'admin' });
    validator.close();
  });

  it('lists instances', async () => {
    const instances = await client.listInstances(token(), 'cf', 'req-7');
    expect(instances.map((i) => [i.job, i.id, i.ips[0], i.cid])).toEqual([
      ['router', 'r-1', '10.0.1.10', 'vm-r-1'],
      ['router', 'r-2', '10.0.1.11', 'vm-r-2'],
      ['diego-cell', 'c-1', '10.0.2.10', 'vm-c-1'],
      ['diego-cell', 'c-2', undefined, undefined],
    ]);
    expect(director.requests.at(-1)?.requestId).toBe('req-7');
  });

  it('selects targets by groups and optional ids', async () => {
    const all = await client.resolveTargets(token(), 'cf', { groups: ['diego-cell'] });
    expect(all.map((t) => [t.origin, t.host, t.available])).toEqual([
      ['diego-cell/c-1', '10.0.2.10', true],
      ['diego-cell/c-2', undefined, false],
    ]);
    const some = await client.resolveTargets(token(), 'cf', {
      groups: ['router', 'diego-cell'],
      ids: ['r-2'],
    });
    expect(some.map((t) => t.origin)).toEqual(['router/r-2']);
    const instances = await client.listInstances(token(), 'cf');
    expect(() => selectBoshTargets('cf', instances, { groups: ['rooter'] })).toThrow(
      new CfNotFoundError("Deployment 'cf' has no instance group 'rooter'."),
    );
    expect(() => selectBoshTargets('cf', instances, { groups: ['router'], ids: ['c-1'] })).toThrow(
      /No instance 'c-1'/,
    );
    expect(() => selectBoshTargets('cf', instances, { groups: [] })).toThrow(CfNotFoundError);
  });

  it('maps director errors', async () => {
    await expect(client.listInstances(token(), 'nope')).rejects.toThrow(
      new CfNotFoundError("Deployment 'nope' doesn't exist."),
    );
    const weak = new SecretToken(uaa.mintUserToken({ ...operator, scopes: ['openid'] }));
    await expect(client.listInstances(weak, 'cf')).rejects.toBeInstanceOf(CfAuthError);
    director.fault('/deployments', { kind: 'status', status: 500 });
    await expect(client.listInstances(token(), 'cf')).rejects.toBeInstanceOf(CfUnavailableError);
    await director.stop();
    await expect(client.info()).rejects.toThrow(/^BOSH director at .* is unavailable/);
  });
});
