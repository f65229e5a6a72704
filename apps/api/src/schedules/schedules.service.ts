import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import {
  CaptureAuthorizer,
  type CcApp,
  CfError,
  CfForbiddenError,
  CloudControllerClient,
  type UaaPrincipal,
} from '@pcap/cf';

import { EXCLUDED_ADDRESSES } from '../captures/excluded-addresses';
import { ApiConfig } from '../config/api-config';
import { BadCaptureRequestError, RequestOverLimitError } from '../http/api.errors';
import type { RunRecord, ScheduleRecord, ScheduleState } from './schedule.model';
import { ScheduleNotFoundError } from './schedule-not-found.error';
import { parseScheduleBody } from './schedule-request';
import { SCHEDULE_STORE, type ScheduleStore } from './schedule.store';
import { ScheduleAuditLog } from './schedule-audit.log';
import { nextOccurrence } from './schedule-timing';

/**
 * What users do with schedules. Creating one checks, with the user's own token, that they may capture the app
 * now and are a space developer of its space (what every run re-checks later); everything else is allowed to the
 * creator and to anybody who may capture the app now. Others get 404, as CC hides what one may not see.
 */
@Injectable()
export class SchedulesService {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(EXCLUDED_ADDRESSES) private readonly excluded: readonly string[],
    @Inject(SCHEDULE_STORE) private readonly store: ScheduleStore,
    private readonly cc: CloudControllerClient,
    private readonly authorizer: CaptureAuthorizer,
    private readonly audit: ScheduleAuditLog,
  ) {}

  private get settings(): NonNullable<ApiConfig['schedules']> {
    const s = this.config.schedules;
    if (s === undefined) throw new Error('schedules are not configured');
    return s;
  }

  async create(principal: UaaPrincipal, body: unknown, requestId: string): Promise<ScheduleRecord> {
    const nowMs = Date.now();
    const request = parseScheduleBody(body, {
      config: this.config,
      excluded: this.excluded,
      sinks: this.config.sinks.map((s) => s.name),
      nowMs,
    });
    if (principal.isClient) {
      throw new CfForbiddenError(
        'Schedules run as the user who created them; a client token cannot create one.',
      );
    }
    const ctx = { token: principal.rawToken, requestId };
    const selector = request.capture.app;
    const appGuid =
      selector.kind === 'guid'
        ? selector.appGuid
        : (await this.cc.findAppByName(ctx, selector.spaceGuid, selector.appName)).guid;
    const app = await this.authorize(principal, appGuid, requestId);
    if (!(await this.cc.isSpaceDeveloper(ctx, app.spaceGuid, principal.userId))) {
      throw new CfForbiddenError(
        `A schedule captures app '${app.name}' later on your behalf, and every run checks that you are a space ` +
          'developer of its space; you are not (admins too need that role to schedule).',
      );
    }
    const space = await this.cc.getSpace(ctx, app.spaceGuid);
    const org = await this.cc.getOrganization(ctx, space.orgGuid);
    const captureBody: Record<string, unknown> = { ...request.captureBody, app_guid: app.guid };
    delete captureBody.app_name;
    delete captureBody.space_guid;
    const next = nextOccurrence(request.timing, nowMs);
    if (next === null) throw new BadCaptureRequestError('the schedule never occurs after now');
    const schedule: ScheduleRecord = {
      id: randomUUID(),
      appGuid: app.guid,
      appName: app.name,
      spaceGuid: space.guid,
      spaceName: space.name,
      orgName: org.name,
      createdBy: principal.userId,
      createdByName: principal.userName,
      timing: request.timing,
      sink: request.sink,
      capture: captureBody,
      state: 'active',
      pausedReason: null,
      nextRunMs: next,
      createdMs: nowMs,
      updatedMs: nowMs,
    };
    const { max_per_app: perApp, max_per_user: perUser } = this.settings;
    const created = await this.store.createSchedule(schedule, { perApp, perUser });
    if (created === 'app') {
      throw new RequestOverLimitError(
        `App '${app.name}' already has ${perApp} schedules: the limit schedules.max_per_app is ${perApp}.`,
      );
    }
    if (created === 'user') {
      throw new RequestOverLimitError(
        `You already have ${perUser} schedules: the limit schedules.max_per_user is ${perUser}.`,
      );
    }
    this.record('schedule.create', principal, schedule, requestId);
    return schedule;
  }

  /** The caller's own schedules, or (with `appGuid`, if they may capture that app) every schedule of the app. */
  async list(
    principal: UaaPrincipal,
    appGuid: string | undefined,
    requestId: string,
  ): Promise<ScheduleRecord[]> {
    if (appGuid === undefined) return this.store.listSchedules({ createdBy: principal.userId });
    await this.authorize(principal, appGuid, requestId);
    return this.store.listSchedules({ appGuid });
  }

  get(principal: UaaPrincipal, id: string, requestId: string): Promise<ScheduleRecord> {
    return this.visible(principal, id, requestId);
  }

  async pause(principal: UaaPrincipal, id: string, requestId: string): Promise<ScheduleRecord> {
    const s = await this.visible(principal, id, requestId);
    if (s.state !== 'active') throw new BadCaptureRequestError(`Schedule '${id}' is ${s.state}, not active.`);
    return this.change(principal, s, 'paused', `paused by ${principal.userName}`, null, requestId);
  }

  async resume(principal: UaaPrincipal, id: string, requestId: string): Promise<ScheduleRecord> {
    const s = await this.visible(principal, id, requestId);
    if (s.state !== 'paused') throw new BadCaptureRequestError(`Schedule '${id}' is ${s.state}, not paused.`);
    // Resuming decides afresh that runs may happen: the caller must be allowed now, as at creation.
    await this.authorize(principal, s.appGuid, requestId);
    const next = nextOccurrence(s.timing, Date.now());
    if (next === null) {
      const when =
        s.timing.kind === 'once'
          ? `was due at ${new Date(s.timing.atMs).toISOString()}`
          : 'has no further occurrence';
      throw new BadCaptureRequestError(`Schedule '${id}' ${when}; create a new one.`);
    }
    return this.change(principal, s, 'active', null, next, requestId);
  }

  async delete(principal: UaaPrincipal, id: string, requestId: string): Promise<void> {
    const s = await this.visible(principal, id, requestId);
    if (!(await this.store.deleteSchedule(id))) throw new ScheduleNotFoundError(id);
    this.record('schedule.delete', principal, s, requestId);
  }

  async runs(principal: UaaPrincipal, id: string, limit: number, requestId: string): Promise<RunRecord[]> {
    await this.visible(principal, id, requestId);
    return this.store.listRuns(id, limit);
  }

  private async change(
    principal: UaaPrincipal,
    s: ScheduleRecord,
    state: ScheduleState,
    reason: string | null,
    nextRunMs: number | null,
    requestId: string,
  ): Promise<ScheduleRecord> {
    const nowMs = Date.now();
    const ok = await this.store.changeState(s.id, { state, pausedReason: reason, nextRunMs, nowMs }, s.state);
    if (!ok) throw new BadCaptureRequestError(`Schedule '${s.id}' changed meanwhile; look at it again.`);
    const changed = { ...s, state, pausedReason: reason, nextRunMs, updatedMs: nowMs };
    this.record(state === 'paused' ? 'schedule.pause' : 'schedule.resume', principal, changed, requestId);
    return changed;
  }

  private async authorize(principal: UaaPrincipal, appGuid: string, requestId: string): Promise<CcApp> {
    const { policy } = this.config;
    return this.authorizer.authorize({
      principal,
      appGuid,
      requestId,
      policy: {
        requireSshEnabled: policy.require_ssh_enabled,
        adminsOnly: policy.admins_only,
        allowReadOnlyAdmins: policy.allow_read_only_admins,
      },
    });
  }

  /** The schedule if the caller created it or may capture its app now; else 404. */
  private async visible(principal: UaaPrincipal, id: string, requestId: string): Promise<ScheduleRecord> {
    const s = await this.store.getSchedule(id);
    if (s === undefined) throw new ScheduleNotFoundError(id);
    if (s.createdBy === principal.userId && !principal.isClient) return s;
    try {
      await this.authorize(principal, s.appGuid, requestId);
    } catch (err) {
      if (err instanceof CfError && (err.code === 'FORBIDDEN' || err.code === 'NOT_FOUND')) {
        throw new ScheduleNotFoundError(id);
      }
      throw err;
    }
    return s;
  }

  private record(
    event: 'schedule.create' | 'schedule.pause' | 'schedule.resume' | 'schedule.delete',
    principal: UaaPrincipal,
    s: ScheduleRecord,
    requestId: string,
  ): void {
    const capture = s.capture;
    this.audit.record({
      event,
      schedule_id: s.id,
      user: principal.userName,
      user_id: principal.userId,
      request_id: requestId,
      app: s.appName,
      app_guid: s.appGuid,
      sink: s.sink,
      timing:
        s.timing.kind === 'once'
          ? new Date(s.timing.atMs).toISOString()
          : `${s.timing.cron} (${s.timing.timezone})`,
      filter: typeof capture.filter === 'string' ? capture.filter : '',
      instances: Array.isArray(capture.instances) ? (capture.instances as number[]) : 'all',
      ...(s.pausedReason === null ? {} : { reason: s.pausedReason }),
    });
  }
}
