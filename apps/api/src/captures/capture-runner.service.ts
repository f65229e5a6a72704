import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';

import { Inject, Injectable, Logger } from '@nestjs/common';
import { type ControlMessage, GcPacer, mergePcapng, type MergeInput, nowNs } from '@pcap/capture';
import type { UaaPrincipal } from '@pcap/cf';
import {
  CaptureLimit,
  type CaptureRef,
  ClientStreamSinkHandle,
  MetricsSinkHandle,
  S3SinkHandle,
  SinkFanOut,
  type SinkHandle,
  SinkRegistry,
} from '@pcap/sinks';

import { type AgentCapture, AgentClient } from '../agents/agent.client';
import { ApiConfig } from '../config/api-config';
import { NoInstanceCapturableError } from '../http/api.errors';
import { ApiMetrics } from '../metrics/api-metrics';
import { AgentInput } from './agent-input';
import { CaptureAuditLog } from './capture-audit.log';
import { type CaptureSlot, CaptureRegistry } from './capture-registry.service';
import type { CapturePlan, PlannedInstance } from './capture-plan';
import type { CaptureOptions } from './capture-request';

export const API_VERSION = '0.1.0';

/** A started capture: stream `output` to the client; destroying it stops everything. */
export interface StartedCapture {
  readonly id: string;
  readonly output: Readable;
  readonly contentType: string;
  /** The storage sink of `request.sink`, if any: its `finished()` says whether the capture was stored. */
  readonly storage?: SinkHandle;
}

interface Started {
  readonly target: PlannedInstance;
  readonly capture: AgentCapture;
}

/**
 * Fans one capture out to the agents of its instances (HTTP/2 mTLS), merges their pcapng streams in time order
 * and hands the client one lossy, bounded stream ({@link ClientStream}). Instances that are down, missing or whose
 * agent cannot start become INSTANCE_UNAVAILABLE messages; if none starts, NoInstanceCapturableError (503).
 * Stops: client gone (abort), duration / packet / byte limit or drain (graceful: agents drain and send statistics).
 */
@Injectable()
export class CaptureRunner {
  private readonly logger = new Logger(CaptureRunner.name);
  private readonly gcPacer: GcPacer;

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    private readonly agents: AgentClient,
    private readonly registry: CaptureRegistry,
    private readonly audit: CaptureAuditLog,
    private readonly sinks: SinkRegistry,
    private readonly metrics: ApiMetrics,
  ) {
    this.gcPacer = new GcPacer(config.stream.gc_pacing_bytes);
    if (config.stream.gc_pacing_bytes > 0 && !this.gcPacer.enabled) {
      this.logger.warn('stream.gc_pacing_bytes is set but V8 does not expose gc(): GC pacing is off');
    }
  }

  /**
   * Takes a concurrency slot for the principal (TooManyCapturesError naming the limit, or DrainingError), then
   * {@link start}s; the slot is released when the start fails and when the capture ends.
   */
  async reserveAndStart(
    principal: UaaPrincipal,
    request: CaptureOptions,
    plan: CapturePlan,
    requestId: string,
  ): Promise<StartedCapture> {
    const slot = this.registry.reserve(principal.userId);
    try {
      return await this.start(principal, request, plan, requestId, slot);
    } catch (err) {
      slot.release();
      throw err;
    }
  }

  async start(
    principal: UaaPrincipal,
    request: CaptureOptions,
    plan: CapturePlan,
    requestId: string,
    slot: CaptureSlot,
  ): Promise<StartedCapture> {
    const id = randomUUID();
    const startedAt = Date.now();
    const base = {
      request_id: requestId,
      capture_id: id,
      user: principal.userName,
      user_id: principal.userId,
      ...plan.audit,
      instances: plan.instances.map((i) => i.auditKey),
      device: request.device,
      filter: request.filter,
      format: request.format,
      ...(request.sink === undefined ? {} : { sink: request.sink }),
    };
    const notices: ControlMessage[] = [];
    const unavailable: Array<number | string> = [];
    const unavailableNotice = (target: PlannedInstance, why: string): void => {
      unavailable.push(target.auditKey);
      notices.push({
        type: 'INSTANCE_UNAVAILABLE',
        origin: 'api',
        message: `${target.description}: ${why}`,
        timestampNs: nowNs(),
        fields: target.messageFields,
      });
    };

    const attempts = await Promise.all(
      plan.instances.map(async (target): Promise<Started | undefined> => {
        if (!target.available || target.host === undefined) {
          unavailableNotice(target, target.unavailableReason ?? 'not running');
          return undefined;
        }
        try {
          const capture = await this.agents.start(target.host, this.agentBody(request, target), requestId);
          this.logger.log(
            `request ${requestId}: capture ${id}: agent ${capture.endpoint} started ${target.label}`,
          );
          this.metrics.agentRequests.inc({ outcome: 'started' });
          return { target, capture };
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.logger.warn(`request ${requestId}: capture ${id}: ${target.label} not started: ${why}`);
          this.metrics.agentRequests.inc({ outcome: 'failed' });
          unavailableNotice(target, why);
          return undefined;
        }
      }),
    );
    this.metrics.instancesUnavailable.inc(unavailable.length);
    const started = attempts.filter((s): s is Started => s !== undefined);
    if (started.length === 0) {
      slot.release();
      this.audit.record({
        ...base,
        event: 'capture.refused',
        outcome: 'no instance could be started',
        unavailable,
      });
      throw new NoInstanceCapturableError(
        `No instance of ${plan.subject} could be captured: ${notices.map((n) => n.message).join('; ')}`,
      );
    }

    const inputs: MergeInput[] = started.map(({ target, capture }) => ({
      label: target.label,
      source: new AgentInput(capture.stream, {
        origin: 'api',
        describe: target.description,
        fields: target.messageFields,
        gcPacer: this.gcPacer,
        onLost: (why) =>
          this.logger.warn(`request ${requestId}: capture ${id}: lost ${target.label}: ${why}`),
      }),
    }));
    const merge = mergePcapng(inputs, { section: { userAppl: `pcap-api ${API_VERSION}` } });
    let outcome = 'completed';
    const stopAll = (reason: string): void => {
      if (outcome === 'completed') outcome = reason;
      this.logger.log(`request ${requestId}: capture ${id}: stopping (${reason})`);
      for (const { capture } of started) void capture.stop();
    };
    const ref: CaptureRef = {
      id,
      ...plan.ref,
      instances: started.flatMap((s) => (s.target.index === undefined ? [] : [s.target.index])),
      filter: request.filter,
      requestedBy: principal.userName,
      startedAt: new Date(startedAt),
    };
    // The live client: lossy, bounded, never holds the other sinks back.
    const client = new ClientStreamSinkHandle({
      kind: 'client-stream',
      name: 'client',
      format: request.format,
      highWatermark: this.config.stream.high_watermark_bytes,
      lowWatermark: this.config.stream.low_watermark_bytes,
      snaplen: request.snaplen,
      notices,
      onMessage: (m) =>
        this.logger.log(`request ${requestId}: capture ${id}: ${m.type} from ${m.origin}: ${m.message}`),
    });
    const output = client.output;
    const meter = new MetricsSinkHandle(ref, {
      kind: 'metrics',
      name: 'prometheus',
      metrics: this.metrics.captures,
    });
    const handles: SinkHandle[] = [client, meter];
    let storage: SinkHandle | undefined;
    const storageConfig = request.sink === undefined ? undefined : this.config.sink(request.sink);
    if (storageConfig !== undefined) {
      try {
        storage = await this.sinks.open(ref, storageConfig);
      } catch (err) {
        // Nothing may keep running when start() throws (the controller releases the slot).
        merge.destroy();
        for (const { capture } of started) capture.close();
        throw err;
      }
      handles.push(storage);
      this.logger.log(`request ${requestId}: capture ${id}: also stored in sink ${storage.name}`);
    }
    const fanOut = new SinkFanOut(handles, {
      onSinkFailed: (handle, err) => {
        if (handle === client) {
          // The client going away is not an error: a stored capture ends cleanly, a live-only one at once.
          if (storage === undefined) merge.destroy();
          else stopAll('client gone');
          return;
        }
        if (handle === meter) {
          this.logger.warn(`request ${requestId}: capture ${id}: metrics sink: ${err.message}`);
          return;
        }
        this.metrics.captures.sinkErrors.inc({ sink: handle.name });
        const failure = `failed: sink ${handle.name}: ${err.message}`;
        this.logger.warn(`request ${requestId}: capture ${id}: ${failure}`);
        client.message({
          type: 'CONNECTION_ERROR',
          origin: 'api',
          message: `the capture could not be stored in sink '${handle.name}': ${err.message}`,
          timestampNs: nowNs(),
        });
        stopAll(failure);
        outcome = failure;
      },
    });
    // The limits are applied once, before the fan-out: every sink gets the same packets, at most the limit.
    // Without a limit the stage would only parse the stream again, so the merge feeds the fan-out directly.
    if (request.maxPackets === undefined && request.maxBytes === undefined) {
      pipeline(merge, fanOut, () => undefined);
    } else {
      const limit = new CaptureLimit({
        ...(request.maxPackets === undefined ? {} : { maxPackets: request.maxPackets }),
        ...(request.maxBytes === undefined ? {} : { maxBytes: request.maxBytes }),
        onLimit: (text) => stopAll(text),
      });
      pipeline(merge, limit, fanOut, () => undefined);
    }
    const timer = setTimeout(
      () => {
        client.message({
          type: 'LIMIT_REACHED',
          origin: 'api',
          message: `duration limit of ${request.durationSeconds}s reached`,
          timestampNs: nowNs(),
          fields: { limit: 'duration' },
        });
        stopAll(`duration limit of ${request.durationSeconds}s reached`);
      },
      // The agents stop themselves at the same time; this covers an agent that does not.
      request.durationSeconds * 1000 + 2000,
    );

    const appLabels = this.metrics.captures.labels(ref);
    this.metrics.captures.active.inc();
    this.metrics.captures.started.inc(appLabels);
    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
    output.once('close', () => {
      if (!output.readableEnded && outcome === 'completed') outcome = 'client gone';
    });
    void Promise.allSettled(handles.map((h) => h.finished())).then(() => {
      clearTimeout(timer);
      for (const { capture } of started) capture.close();
      slot.release();
      const stats = client.stats;
      const durationMs = Date.now() - startedAt;
      this.logger.log(`request ${requestId}: capture ${id} ended (${outcome})`);
      const label = ApiMetrics.outcomeOf(outcome);
      this.metrics.captures.active.dec();
      this.metrics.captures.finished.inc({ ...appLabels, outcome: label });
      this.metrics.captures.duration.observe({ outcome: label }, durationMs / 1000);
      if (stats.packetsDiscarded > 0) {
        this.metrics.captures.discarded.inc({ ...appLabels, stage: 'api' }, stats.packetsDiscarded);
      }
      this.audit.record({
        ...base,
        event: 'capture.end',
        outcome,
        packets: stats.packetsWritten,
        bytes: stats.bytesWritten,
        discarded: stats.packetsDiscarded,
        duration_ms: durationMs,
        unavailable,
        ...(storage === undefined
          ? {}
          : {
              sink: storage.name,
              stored_objects: storage instanceof S3SinkHandle ? storage.objects.map((o) => o.key) : [],
            }),
      });
      resolveFinished();
    });
    this.registry.track({
      id,
      requestId,
      userId: principal.userId,
      finished,
      stop: (reason) => {
        client.message({ type: 'CAPTURE_STOPPED', origin: 'api', message: reason, timestampNs: nowNs() });
        stopAll(reason);
      },
      abort: () => {
        output.destroy();
        fanOut.destroy();
        merge.destroy();
      },
    });
    this.audit.record({ ...base, event: 'capture.start', unavailable });
    return {
      id,
      output,
      contentType: request.format === 'pcap' ? 'application/vnd.tcpdump.pcap' : 'application/x-pcapng',
      ...(storage === undefined ? {} : { storage }),
    };
  }

  private agentBody(request: CaptureOptions, target: PlannedInstance) {
    return {
      target: target.agentTarget,
      device: request.device,
      filter: request.agentFilter,
      snaplen: request.snaplen,
      duration_seconds: request.durationSeconds,
      ...(request.maxPackets === undefined ? {} : { max_packets: request.maxPackets }),
      ...(request.maxBytes === undefined ? {} : { max_bytes: request.maxBytes }),
      origin: target.origin,
    };
  }
}
