import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Test } from '@nestjs/testing';

import { AgentConfig } from '../config/agent-config';
import { ContainerStore } from './container-store';
import { RuncClient } from './runc.client';
import { TargetResolver } from './target-resolver.service';
import { CellStateError, ContainerNotFoundError, ContainerOwnershipError } from './target.errors';

const APP_A = '19a000d9-0d55-4573-bdd9-2531260ae91e';
const APP_B = '2c6b5d1e-7a3f-4f0e-9d55-0a1b2c3d4e5f';
const STORE = {
  '092a6919-484d-48d8-66b7-f809': {
    handle: '092a6919-484d-48d8-66b7-f809',
    ip: '10.255.83.91',
    metadata: {
      app_id: APP_A,
      space_id: '37c03178-109c-49fb-a88b-93512b13cdcd',
      org_id: '24ca4595-1be4-4dee-bbf4-94c3a857dc23',
      policy_group_id: APP_A,
      ports: '8080',
      container_workload: 'app',
    },
  },
  'aaaa1111-2222-3333-4444-5555': {
    handle: 'aaaa1111-2222-3333-4444-5555',
    ip: '10.255.83.92',
    metadata: { app_id: APP_B, container_workload: 'app' },
  },
};

describe('TargetResolver', () => {
  let dir: string;
  let storeFile: string;
  let resolver: TargetResolver;
  const runcState = jest.fn();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-target-'));
    storeFile = join(dir, 'store.json');
    writeFileSync(storeFile, JSON.stringify(STORE));
    const config = AgentConfig.fromObject({
      tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
      cell: { container_store: storeFile, runc_root: join(dir, 'runc') },
    });
    const module = await Test.createTestingModule({
      providers: [
        TargetResolver,
        ContainerStore,
        { provide: AgentConfig, useValue: config },
        { provide: RuncClient, useValue: { state: runcState } },
      ],
    }).compile();
    resolver = module.get(TargetResolver);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    runcState.mockReset();
    runcState.mockImplementation((handle: string) =>
      Promise.resolve({ id: handle, pid: handle.startsWith('092a') ? 4242 : 4343, status: 'running' }),
    );
  });

  it('finds a container by instance guid and returns its namespace', async () => {
    const t = await resolver.resolve({
      kind: 'instance',
      appGuid: APP_A,
      instanceGuid: '092a6919-484d-48d8-66b7-f809',
    });
    expect(t).toEqual({
      kind: 'instance',
      netns: '/proc/4242/ns/net',
      container: {
        handle: '092a6919-484d-48d8-66b7-f809',
        pid: 4242,
        ip: '10.255.83.91',
        appId: APP_A,
        spaceId: '37c03178-109c-49fb-a88b-93512b13cdcd',
        orgId: '24ca4595-1be4-4dee-bbf4-94c3a857dc23',
      },
    });
    expect(runcState).toHaveBeenCalledWith('092a6919-484d-48d8-66b7-f809');
  });

  it('finds a container by IP when there is no guid', async () => {
    const t = await resolver.resolve({ kind: 'instance', appGuid: APP_B, instanceIp: '10.255.83.92' });
    expect(t.container?.handle).toBe('aaaa1111-2222-3333-4444-5555');
    expect(t.netns).toBe('/proc/4343/ns/net');
  });

  it("refuses another app's container, by guid and by IP, without asking runc", async () => {
    await expect(
      resolver.resolve({ kind: 'instance', appGuid: APP_B, instanceGuid: '092a6919-484d-48d8-66b7-f809' }),
    ).rejects.toThrow(ContainerOwnershipError);
    await expect(
      resolver.resolve({ kind: 'instance', appGuid: APP_A, instanceIp: '10.255.83.92' }),
    ).rejects.toThrow(/does not belong to app 19a000d9/);
    expect(runcState).not.toHaveBeenCalled();
  });

  it('reports unknown guids and IPs, and a guid whose IP does not match', async () => {
    await expect(
      resolver.resolve({ kind: 'instance', appGuid: APP_A, instanceGuid: 'nope' }),
    ).rejects.toThrow(ContainerNotFoundError);
    await expect(
      resolver.resolve({ kind: 'instance', appGuid: APP_A, instanceIp: '10.0.0.1' }),
    ).rejects.toThrow(/no container with IP 10.0.0.1/);
    await expect(
      resolver.resolve({
        kind: 'instance',
        appGuid: APP_A,
        instanceGuid: '092a6919-484d-48d8-66b7-f809',
        instanceIp: '10.255.83.92',
      }),
    ).rejects.toThrow(/has IP 10.255.83.91, not 10.255.83.92/);
  });

  it('resolves a host target to the own namespace', async () => {
    await expect(resolver.resolve({ kind: 'host' })).resolves.toEqual({ kind: 'host', netns: undefined });
  });

  it('reports a broken store as a cell fault', async () => {
    writeFileSync(storeFile, '{not json');
    try {
      await expect(resolver.resolve({ kind: 'instance', appGuid: APP_A, instanceGuid: 'x' })).rejects.toThrow(
        CellStateError,
      );
    } finally {
      writeFileSync(storeFile, JSON.stringify(STORE));
    }
  });
});

describe('RuncClient (real runc)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-runc-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function client(binary: string): RuncClient {
    return new RuncClient(
      AgentConfig.fromObject({
        tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
        cell: { runc_binary: binary, runc_root: dir },
      }),
    );
  }

  it('reports a container runc does not know as not found', async () => {
    await expect(client('runc').state('no-such-container')).rejects.toThrow(ContainerNotFoundError);
  });

  it('reports a missing runc binary as a cell fault', async () => {
    await expect(client(join(dir, 'no-runc')).state('x')).rejects.toThrow(CellStateError);
  });
});
