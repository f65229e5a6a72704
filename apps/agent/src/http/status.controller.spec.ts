import { Test } from '@nestjs/testing';

import { CapturesService } from '../capture/captures.service';
import { AgentConfig } from '../config/agent-config';
import { StatusController } from './status.controller';

describe('StatusController', () => {
  async function statusWith(
    captures: Partial<CapturesService>,
  ): Promise<ReturnType<StatusController['status']>> {
    const module = await Test.createTestingModule({
      controllers: [StatusController],
      providers: [
        { provide: CapturesService, useValue: captures },
        {
          provide: AgentConfig,
          useValue: AgentConfig.fromObject({
            tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
            capture: { max_concurrent: 7 },
          }),
        },
      ],
    }).compile();
    return module.get(StatusController).status();
  }

  it('reports healthy with compatibility level 1', async () => {
    await expect(statusWith({ isDraining: false, active: 2 })).resolves.toEqual({
      healthy: true,
      state: 'healthy',
      compatibilityLevel: 1,
      version: '0.1.0',
      activeCaptures: 2,
      maxConcurrentCaptures: 7,
    });
  });

  it('reports draining as unhealthy', async () => {
    await expect(statusWith({ isDraining: true, active: 1 })).resolves.toMatchObject({
      healthy: false,
      state: 'draining',
    });
  });
});
