import { Inject, Injectable, type OnApplicationShutdown, type Provider, type Type } from '@nestjs/common';
import { type HttpEndpointOptions, UaaClientCredentialsProvider } from '@pcap/cf';

import type { ApiConfig } from '../config/api-config';
import type { ApiTlsMaterial } from '../config/tls-material';
import { PostgresScheduleStore } from './postgres-schedule.store';
import { SCHEDULE_STORE, type ScheduleStore } from './schedule.store';
import { ScheduleAuditLog } from './schedule-audit.log';
import { ScheduleRunExecutor } from './schedule-run.executor';
import { ScheduleScheduler } from './schedule.scheduler';
import { SchedulesController } from './schedules.controller';
import { SchedulesService } from './schedules.service';
import { SqliteScheduleStore } from './sqlite-schedule.store';

/** Closes the API's own UAA client's sockets with the app. */
@Injectable()
class CredentialsSockets implements OnApplicationShutdown {
  constructor(
    @Inject(UaaClientCredentialsProvider) private readonly credentials: UaaClientCredentialsProvider,
  ) {}

  onApplicationShutdown(): void {
    this.credentials.close();
  }
}

/** The store `schedules.store.kind` names. */
export function createScheduleStore(store: NonNullable<ApiConfig['schedules']>['store']): ScheduleStore {
  switch (store.kind) {
    case 'sqlite':
      return new SqliteScheduleStore(store.data_dir);
    case 'postgres':
      return new PostgresScheduleStore({
        url: store.url,
        poolSize: store.pool_size,
        ...(store.ca === undefined ? {} : { ca: store.ca }),
      });
  }
}

/**
 * Controllers and providers of scheduled captures, for ApiModule to add next to the capture providers they use
 * (CaptureRunner, CaptureRegistry, CloudControllerClient, CaptureAuthorizer, CaptureTargetResolver). Empty when
 * `schedules` is not configured (the routes then answer 404).
 */
export function schedulesParts(
  config: ApiConfig,
  tls: ApiTlsMaterial,
): { controllers: Type[]; providers: Provider[] } {
  const settings = config.schedules;
  if (settings === undefined) return { controllers: [], providers: [] };
  const uaa: HttpEndpointOptions = {
    url: config.uaa.url,
    ...(tls.uaaCa === undefined ? {} : { ca: tls.uaaCa }),
    skipTlsVerify: config.uaa.skip_tls_verify,
    timeoutMs: config.uaa.timeout_seconds * 1000,
  };
  return {
    controllers: [SchedulesController],
    providers: [
      { provide: SCHEDULE_STORE, useFactory: () => createScheduleStore(settings.store) },
      {
        provide: UaaClientCredentialsProvider,
        useValue: new UaaClientCredentialsProvider({
          uaa,
          clientId: settings.uaa_client.id,
          clientSecret: settings.uaa_client.secret,
        }),
      },
      CredentialsSockets,
      ScheduleAuditLog,
      ScheduleRunExecutor,
      ScheduleScheduler,
      SchedulesService,
    ],
  };
}
