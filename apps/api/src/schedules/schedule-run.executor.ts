import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  CaptureTargetResolver,
  CfNotFoundError,
  CloudControllerClient,
  type UaaPrincipal,
  UaaClientCredentialsProvider,
} from '@pcap/cf';
import { S3SinkHandle } from '@pcap/sinks';

import { planForApp } from '../captures/capture-plan';
import { type CaptureRequest, parseCaptureBody } from '../captures/capture-request';
import { CaptureRegistry } from '../captures/capture-registry.service';
import { CaptureRunner, type StartedCapture } from '../captures/capture-runner.service';
import { EXCLUDED_ADDRESSES } from '../captures/excluded-addresses';
import { ApiConfig } from '../config/api-config';
import { RunCounter } from './run-counter';
import type { RunRecord, RunResult, ScheduleRecord } from './schedule.model';
import { SCHEDULE_STORE, type ScheduleStore } from './schedule.store';
import { ScheduleAuditLog } from './schedule-audit.log';

/** A run decided not to capture: `skip` (and maybe pause the schedule) or `fail`. */
class RunStop extends Error {
  constructor(
    readonly outcome: 'skipped' | 'failed',
    message: string,
    readonly pause: boolean,
  ) {
    super(message);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Executes one claimed run of a schedule, without the user: the API's own UAA token (client credentials)
 * → the app still exists → its creator is still a space developer of the app's space (CC roles API; if not, the run
 * is skipped and the schedule paused) → the capture re-validated against today's limits → instances resolved →
 * the capture runs through the same CaptureRunner as `POST /captures` (fan-out, merge) with the schedule's sink as
 * its storage sink → the result recorded (objects, packets, kernel drops). The run's lease is renewed while it runs; if it is lost (this
 * instance was presumed dead, or the schedule deleted), the capture is aborted.
 */
@Injectable()
export class ScheduleRunExecutor {
  private readonly logger = new Logger(ScheduleRunExecutor.name);

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(EXCLUDED_ADDRESSES) private readonly excluded: readonly string[],
    @Inject(SCHEDULE_STORE) private readonly store: ScheduleStore,
    private readonly credentials: UaaClientCredentialsProvider,
    private readonly cc: CloudControllerClient,
    private readonly resolver: CaptureTargetResolver,
    private readonly runner: CaptureRunner,
    private readonly registry: CaptureRegistry,
    private readonly audit: ScheduleAuditLog,
  ) {}

  /** Runs `run` (claimed by `owner`, outcome `running`) to its end and records the result. Never rejects. */
  async execute(schedule: ScheduleRecord, run: RunRecord, owner: string): Promise<void> {
    const requestId = `schedule-run-${run.id}`;
    const base = {
      schedule_id: schedule.id,
      run_id: run.id,
      user: 'scheduler',
      user_id: schedule.createdBy,
      request_id: requestId,
      app: schedule.appName,
      app_guid: schedule.appGuid,
      occurrence: new Date(run.occurrenceMs).toISOString(),
      sink: schedule.sink,
    };
    this.audit.record({ ...base, event: 'schedule.run.start' });
    const leaseMs = this.leaseSeconds * 1000;
    let abort: ((why: string) => void) | undefined;
    let leaseLost: string | undefined;
    const renew = setInterval(() => {
      this.store.renewLease(run.id, owner, Date.now() + leaseMs).then(
        (ok) => {
          if (ok) return;
          leaseLost = 'the run lost its lease (the schedule was deleted or the run was presumed dead)';
          abort?.(leaseLost);
        },
        (err: unknown) => this.logger.warn(`run ${run.id}: lease renewal failed: ${messageOf(err)}`),
      );
    }, leaseMs / 3);
    let result: RunResult;
    try {
      result = await this.capture(schedule, run, requestId, (fn) => {
        abort = fn;
        // Lost before the capture even started: stop it at once.
        if (leaseLost !== undefined) fn(leaseLost);
      });
    } catch (err) {
      const stop = err instanceof RunStop ? err : undefined;
      result = {
        outcome: stop?.outcome ?? 'failed',
        endedMs: Date.now(),
        objects: [],
        packets: null,
        bytes: null,
        drops: null,
        discarded: null,
        error: leaseLost ?? messageOf(err),
      };
      if (stop?.pause === true) await this.pause(schedule, stop.message, requestId);
    } finally {
      clearInterval(renew);
    }
    const recorded = await this.store.finishRun(run.id, owner, result).catch((err: unknown) => {
      this.logger.error(`run ${run.id}: result not recorded: ${messageOf(err)}`);
      return false;
    });
    if (!recorded) this.logger.warn(`run ${run.id}: no longer ours when it ended; result not recorded`);
    this.logger.log(
      `schedule ${schedule.id}: run ${run.id} ${result.outcome}${result.error ? `: ${result.error}` : ''}`,
    );
    this.audit.record({
      ...base,
      event: 'schedule.run.end',
      outcome: result.outcome,
      objects: result.objects,
      packets: result.packets,
      drops: result.drops,
      error: result.error,
    });
  }

  private get leaseSeconds(): number {
    return this.config.schedules?.lease_seconds ?? 30;
  }

  private async capture(
    schedule: ScheduleRecord,
    run: RunRecord,
    requestId: string,
    onAbort: (abort: (why: string) => void) => void,
  ): Promise<RunResult> {
    const token = await this.credentials.token(requestId).catch((err: unknown) => {
      throw new RunStop('failed', `the API could not get its own UAA token: ${messageOf(err)}`, false);
    });
    const ctx = { token, requestId };
    const app = await this.cc.getApp(ctx, schedule.appGuid).catch((err: unknown) => {
      if (err instanceof CfNotFoundError) {
        throw new RunStop(
          'skipped',
          `app '${schedule.appName}' (${schedule.appGuid}) no longer exists`,
          true,
        );
      }
      throw err;
    });
    const developer = await this.cc.isSpaceDeveloper(ctx, app.spaceGuid, schedule.createdBy);
    if (!developer) {
      throw new RunStop(
        'skipped',
        `the creator ${schedule.createdByName} is no longer a space developer of the space of app '${app.name}'`,
        true,
      );
    }
    if (this.config.policy.require_ssh_enabled) {
      const ssh = await this.cc.getSshEnabled(ctx, app.guid);
      if (!ssh.enabled) {
        throw new RunStop(
          'skipped',
          `SSH is not enabled for app '${app.name}': ${ssh.reason || 'no reason'}`,
          false,
        );
      }
    }
    let request: CaptureRequest;
    try {
      request = parseCaptureBody({ ...schedule.capture, sink: schedule.sink }, this.config, this.excluded);
    } catch (err) {
      throw new RunStop(
        'skipped',
        `the capture is no longer valid on this API (limits or sinks changed): ${messageOf(err)}`,
        true,
      );
    }
    const targets = await this.resolver.resolve({
      ctx,
      app,
      processType: request.processType,
      ...(request.indexes === undefined ? {} : { indexes: request.indexes }),
    });
    const limit = this.config.limits.instances_per_capture;
    if (targets.instances.length > limit) {
      throw new RunStop(
        'failed',
        `app '${app.name}' has ${targets.instances.length} instances; the limit limits.instances_per_capture is ${limit}`,
        false,
      );
    }
    const slot = this.registry.reserve(`schedule:${schedule.createdBy}`);
    let started: StartedCapture;
    try {
      started = await this.runner.start(
        this.principalOf(schedule, token),
        request,
        planForApp(targets),
        requestId,
        slot,
      );
    } catch (err) {
      slot.release();
      throw err;
    }
    const { output, storage } = started;
    if (storage === undefined) {
      output.destroy();
      throw new RunStop('failed', `sink '${schedule.sink}' was not opened`, false);
    }
    onAbort((why) => {
      // The run is no longer ours: abort the upload (no complete-looking object) and the capture.
      storage.input.destroy(new Error(why));
      output.destroy();
    });
    // The runner's fan-out writes the merged stream into the storage sink (blocking: a slow S3 slows the capture,
    // the kernel's drops are counted). Its live-client output is read here only to count what passed.
    const counter = new RunCounter();
    let failure: unknown;
    await pipeline(output, counter, new Writable({ write: (_chunk, _enc, done) => done() })).catch(
      (err: unknown) => (failure = err),
    );
    await storage.finished().catch((err: unknown) => (failure = err));
    const stored = storage instanceof S3SinkHandle ? storage.objects : undefined;
    return {
      outcome: failure === undefined ? 'succeeded' : 'failed',
      endedMs: Date.now(),
      objects: stored?.map((o) => o.key) ?? [],
      packets: stored === undefined ? counter.packets : stored.reduce((n, o) => n + o.packets, 0),
      bytes: counter.bytes,
      drops: counter.kernelDrops,
      discarded: counter.discarded,
      error:
        failure === undefined
          ? null
          : `storing the capture in sink '${schedule.sink}' failed: ${messageOf(failure)}`,
    };
  }

  /** Runs capture as the schedule's creator (audit, per-user accounting); CC is asked with the API's own token. */
  private principalOf(schedule: ScheduleRecord, token: UaaPrincipal['rawToken']): UaaPrincipal {
    return {
      userId: schedule.createdBy,
      userName: schedule.createdByName,
      clientId: this.config.schedules?.uaa_client.id ?? '',
      isClient: true,
      scopes: [],
      isAdmin: false,
      isAdminReadOnly: false,
      isGlobalAuditor: false,
      issuer: '',
      expiresAt: new Date(Date.now() + 3600_000),
      rawToken: token,
    };
  }

  private async pause(schedule: ScheduleRecord, reason: string, requestId: string): Promise<void> {
    const paused = await this.store
      .changeState(
        schedule.id,
        { state: 'paused', pausedReason: reason, nextRunMs: null, nowMs: Date.now() },
        'active',
      )
      .catch((err: unknown) => {
        this.logger.error(`schedule ${schedule.id}: not paused: ${messageOf(err)}`);
        return false;
      });
    if (paused) {
      this.audit.record({
        event: 'schedule.pause',
        schedule_id: schedule.id,
        user: 'scheduler',
        user_id: schedule.createdBy,
        request_id: requestId,
        app: schedule.appName,
        app_guid: schedule.appGuid,
        reason,
      });
    }
  }
}
