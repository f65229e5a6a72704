import { Controller, Get, Inject } from '@nestjs/common';

import { AGENT_VERSION, CapturesService } from '../capture/captures.service';
import { AgentConfig } from '../config/agent-config';

/** Agents report this; the API refuses agents below its minimum. */
export const COMPATIBILITY_LEVEL = 1;

export interface AgentStatus {
  healthy: boolean;
  state: 'healthy' | 'draining';
  compatibilityLevel: number;
  version: string;
  activeCaptures: number;
  maxConcurrentCaptures: number;
}

@Controller('status')
export class StatusController {
  constructor(
    private readonly captures: CapturesService,
    @Inject(AgentConfig) private readonly config: AgentConfig,
  ) {}

  @Get()
  status(): AgentStatus {
    const draining = this.captures.isDraining;
    return {
      healthy: !draining,
      state: draining ? 'draining' : 'healthy',
      compatibilityLevel: COMPATIBILITY_LEVEL,
      version: AGENT_VERSION,
      activeCaptures: this.captures.active,
      maxConcurrentCaptures: this.config.capture.max_concurrent,
    };
  }
}
