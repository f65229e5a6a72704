import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CaptureAuthorizer, CaptureTargetResolver, CloudControllerClient, UaaTokenValidator } from '@pcap/cf';
import {
  ClientStreamSinkFactory,
  MetricsSinkFactory,
  S3SinkFactory,
  SINK_FACTORIES,
  SinkHealth,
  SinkRegistry,
} from '@pcap/sinks';

import { AgentClient } from './agents/agent.client';
import { UaaAuthGuard } from './auth/uaa-auth.guard';
import { BoshAccess } from './bosh/bosh-access.service';
import { BoshAuthGuard } from './bosh/bosh-auth.guard';
import { BoshCapturesController } from './bosh/bosh-captures.controller';
import { CaptureAuditLog } from './captures/capture-audit.log';
import { CapturePlanner } from './captures/capture-planner.service';
import { CaptureRegistry } from './captures/capture-registry.service';
import { CaptureRunner } from './captures/capture-runner.service';
import { CapturesController } from './captures/captures.controller';
import { EXCLUDED_ADDRESSES, excludedAddresses } from './captures/excluded-addresses';
import { CliController } from './cli/cli.controller';
import { ApiConfig } from './config/api-config';
import { API_TLS, type ApiTlsMaterial, readTlsMaterial } from './config/tls-material';
import { HealthController } from './health/health.controller';
import { logSinkChange } from './health/sink-change.log';
import { ApiMetrics } from './metrics/api-metrics';
import { MetricsController } from './metrics/metrics.controller';
import { schedulesParts } from './schedules/schedules.parts';
import { StoredCapturesController } from './stored/stored-captures.controller';
import { StoredCaptures } from './stored/stored-captures.service';

/** Releases keep-alive sockets to UAA and Cloud Controller when the app closes. */
@Injectable()
class UpstreamSockets implements OnApplicationShutdown {
  constructor(
    @Inject(UaaTokenValidator) private readonly validator: UaaTokenValidator,
    @Inject(CloudControllerClient) private readonly cc: CloudControllerClient,
  ) {}

  onApplicationShutdown(): void {
    this.validator.close();
    this.cc.close();
  }
}

@Module({})
export class ApiModule {
  /** The whole API for one parsed configuration (TLS files are read here, once). */
  static forConfig(config: ApiConfig, tls: ApiTlsMaterial = readTlsMaterial(config)): DynamicModule {
    const cc = new CloudControllerClient({
      url: config.cloudController.url,
      ...(tls.ccCa === undefined ? {} : { ca: tls.ccCa }),
      skipTlsVerify: config.cloudController.skip_tls_verify,
      timeoutMs: config.cloudController.timeout_seconds * 1000,
    });
    const validator = new UaaTokenValidator({
      uaa: {
        url: config.uaa.url,
        ...(tls.uaaCa === undefined ? {} : { ca: tls.uaaCa }),
        skipTlsVerify: config.uaa.skip_tls_verify,
        timeoutMs: config.uaa.timeout_seconds * 1000,
      },
      ...(config.uaa.issuer === undefined ? {} : { issuer: config.uaa.issuer }),
      keyRefetchIntervalMs: config.uaa.key_refetch_interval_seconds * 1000,
    });
    const bosh = config.bosh === undefined ? [] : [BoshAccess, BoshAuthGuard];
    const schedules = schedulesParts(config, tls);
    return {
      module: ApiModule,
      controllers: [
        HealthController,
        CapturesController,
        CliController,
        ...(config.bosh === undefined ? [] : [BoshCapturesController]),
        MetricsController,
        StoredCapturesController,
        ...schedules.controllers,
      ],
      providers: [
        { provide: ApiConfig, useValue: config },
        { provide: API_TLS, useValue: tls },
        { provide: EXCLUDED_ADDRESSES, useValue: excludedAddresses(config) },
        { provide: CloudControllerClient, useValue: cc },
        { provide: UaaTokenValidator, useValue: validator },
        { provide: CaptureAuthorizer, useValue: new CaptureAuthorizer(cc) },
        { provide: CaptureTargetResolver, useValue: new CaptureTargetResolver(cc) },
        UpstreamSockets,
        UaaAuthGuard,
        AgentClient,
        CaptureAuditLog,
        CapturePlanner,
        CaptureRegistry,
        CaptureRunner,
        ...bosh,
        ApiMetrics,
        {
          provide: SINK_FACTORIES,
          inject: [ApiMetrics],
          useFactory: (metrics: ApiMetrics) => [
            new S3SinkFactory(metrics.s3Observer),
            new ClientStreamSinkFactory(),
            new MetricsSinkFactory(),
          ],
        },
        SinkRegistry,
        {
          provide: SinkHealth,
          inject: [SinkRegistry, ApiMetrics],
          useFactory: (registry: SinkRegistry, metrics: ApiMetrics) =>
            new SinkHealth(registry, config.sinks, {
              timeoutMs: config.health.sink_check_timeout_seconds * 1000,
              cacheMs: config.health.sink_check_interval_seconds * 1000,
              onState: (state) => metrics.sinkState(state),
              onChange: logSinkChange,
            }),
        },
        StoredCaptures,
        ...schedules.providers,
      ],
    };
  }
}
