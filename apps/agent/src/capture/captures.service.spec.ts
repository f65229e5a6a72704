import { Test } from '@nestjs/testing';

import { AgentConfig } from '../config/agent-config';
import { AgentMetrics } from '../metrics/agent-metrics';
import { TargetResolver } from '../target/target-resolver.service';
import { ContainerNotFoundError } from '../target/target.errors';
import { AgentDrainingError, CaptureLimitError, CaptureNotFoundError } from './capture.errors';
import type { CaptureRequest } from './capture-request';
import { CapturesService } from './captures.service';

const REQUEST: CaptureRequest = {
  target: { kind: 'instance', appGuid: 'a1', instanceGuid: 'h1' },
  device: 'eth0',
  filter: '',
  snaplen: 100,
  bufferSize: 0,
  durationSeconds: undefined,
  maxPackets: undefined,
  maxBytes: undefined,
  origin: {},
};

describe('CapturesService', () => {
  let service: CapturesService;
  let resolve: jest.Mock;

  beforeEach(async () => {
    resolve = jest.fn();
    const module = await Test.createTestingModule({
      providers: [
        CapturesService,
        {
          provide: AgentConfig,
          useValue: AgentConfig.fromObject({
            tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
            capture: { max_concurrent: 1 },
          }),
        },
        { provide: TargetResolver, useValue: { resolve } },
        AgentMetrics,
      ],
    }).compile();
    service = module.get(CapturesService);
  });

  it('holds a slot while the target resolves, so the limit holds across awaits', async () => {
    let release!: (e: Error) => void;
    resolve.mockReturnValueOnce(new Promise((_r, reject) => (release = reject)));
    const first = service.start(REQUEST, { requestId: 'r1' });
    await expect(service.start(REQUEST, { requestId: 'r2' })).rejects.toThrow(CaptureLimitError);
    release(new ContainerNotFoundError('gone'));
    await expect(first).rejects.toThrow(ContainerNotFoundError);
    // The slot is free again after the failure.
    resolve.mockRejectedValueOnce(new ContainerNotFoundError('gone'));
    await expect(service.start(REQUEST, { requestId: 'r3' })).rejects.toThrow(ContainerNotFoundError);
  });

  it('refuses new captures once draining', async () => {
    await service.beforeApplicationShutdown();
    expect(service.isDraining).toBe(true);
    await expect(service.start(REQUEST, { requestId: 'r' })).rejects.toThrow(AgentDrainingError);
    expect(resolve).not.toHaveBeenCalled();
  });

  it('reports an unknown capture id on stop', async () => {
    await expect(service.stop('nope')).rejects.toThrow(CaptureNotFoundError);
  });
});
