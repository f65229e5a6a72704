import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';

import { CapturesService } from './capture/captures.service';
import { AgentConfig } from './config/agent-config';
import { AgentExceptionFilter } from './http/agent-exception.filter';
import { CapturesController } from './http/captures.controller';
import { ClientNameGuard } from './http/client-name.guard';
import { MetricsController } from './http/metrics.controller';
import { StatusController } from './http/status.controller';
import { AgentMetrics } from './metrics/agent-metrics';
import { MetricsListener } from './metrics/metrics-listener';
import { ContainerStore } from './target/container-store';
import { RuncClient } from './target/runc.client';
import { TargetResolver } from './target/target-resolver.service';

/** The pcap-agent: target resolution, captures and their HTTP face. */
@Module({})
export class AgentModule {
  static forConfig(config: AgentConfig): DynamicModule {
    return {
      module: AgentModule,
      controllers: [StatusController, CapturesController, MetricsController],
      providers: [
        { provide: AgentConfig, useValue: config },
        ContainerStore,
        RuncClient,
        TargetResolver,
        CapturesService,
        AgentMetrics,
        MetricsListener,
        { provide: APP_FILTER, useClass: AgentExceptionFilter },
        { provide: APP_GUARD, useClass: ClientNameGuard },
      ],
    };
  }
}
