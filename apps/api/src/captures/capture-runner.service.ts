import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';

import { Inject, Injectable, Logger } from '@nestjs/common';
import { type ControlMessage, mergePcapng, type MergeInput, nowNs } from '@pcap/capture';
import type { CaptureInstanceTarget, CaptureTargets, UaaPrincipal } from '@pcap/cf';

import { type AgentCapture, AgentClient } from '../agents/agent.client';
import { ApiConfig } from '../config/api-config';
import { NoInstanceCapturableError } from '../http/api.errors';
import { AgentInput } from './agent-input';
import { CaptureAuditLog } from './capture-audit.log';
import { type CaptureSlot, CaptureRegistry } from './capture-registry.service';
import type { CaptureRequest } from './capture-request';
import { ClientStream } from '@pcap/sinks';

export const API_VERSION = '0.1.0';

/** A started capture: stream `output` to the client; destroying it stops everything. */
export interface StartedCapture {
  readonly id: string;
  readonly output: Readable;
  readonly contentType: string;
}

interface Started {
  readonly target: CaptureInstanceTarget;
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

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    private readonly agents: AgentClient,
    private readonly registry: CaptureRegistry,
    private readonly audit: CaptureAuditLog,
  ) {}

  async start(
    principal: UaaPrincipal,
    request: CaptureRequest,
    targets: CaptureTargets,
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
      org: targets.org.name,
      space: targets.space.name,
      app: targets.app.name,
      app_guid: targets.app.guid,
      process_type: targets.processType,
      instances: targets.instances.map((i) => i.index),
      device: request.device,
      filter: request.filter,
      format: request.format,
    };
    const notices: ControlMessage[] = [];
    const unavailable: number[] = [];
    const unavailableNotice = (target: CaptureInstanceTarget, why: string): void => {
      unavailable.push(target.index);
      notices.push({
        type: 'INSTANCE_UNAVAILABLE',
        origin: 'api',
        message: `${this.describe(targets, target)}: ${why}`,
        timestampNs: nowNs(),
        fields: { instanceIndex: target.index },
      });
    };

    const attempts = await Promise.all(
      targets.instances.map(async (target): Promise<Started | undefined> => {
        if (!target.available || target.host === undefined) {
          unavailableNotice(target, target.unavailableReason ?? 'not running');
          return undefined;
        }
        try {
          const capture = await this.agents.start(
            target.host,
            this.agentBody(request, targets, target),
            requestId,
          );
          this.logger.log(
            `request ${requestId}: capture ${id}: agent ${capture.endpoint} started instance ${target.index}`,
          );
          return { target, capture };
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.logger.warn(
            `request ${requestId}: capture ${id}: instance ${target.index} not started: ${why}`,
          );
          unavailableNotice(target, why);
          return undefined;
        }
      }),
    );
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
        `No instance of app '${targets.app.name}' could be captured: ${notices.map((n) => n.message).join('; ')}`,
      );
    }

    const inputs: MergeInput[] = started.map(({ target, capture }) => ({
      label: `${targets.processType}/${target.index}`,
      source: new AgentInput(capture.stream, {
        origin: 'api',
        describe: this.describe(targets, target),
        instanceIndex: target.index,
        onLost: (why) =>
          this.logger.warn(`request ${requestId}: capture ${id}: lost instance ${target.index}: ${why}`),
      }),
    }));
    const merge = mergePcapng(inputs, { section: { userAppl: `pcap-api ${API_VERSION}` } });
    let outcome = 'completed';
    const stopAll = (reason: string): void => {
      if (outcome === 'completed') outcome = reason;
      this.logger.log(`request ${requestId}: capture ${id}: stopping (${reason})`);
      for (const { capture } of started) void capture.stop();
    };
    const output = new ClientStream(merge, {
      format: request.format,
      highWatermark: this.config.stream.high_watermark_bytes,
      lowWatermark: this.config.stream.low_watermark_bytes,
      snaplen: request.snaplen,
      notices,
      ...(request.maxPackets === undefined ? {} : { maxPackets: request.maxPackets }),
      ...(request.maxBytes === undefined ? {} : { maxBytes: request.maxBytes }),
      onLimit: (text) => stopAll(text),
      onMessage: (m) =>
        this.logger.log(`request ${requestId}: capture ${id}: ${m.type} from ${m.origin}: ${m.message}`),
    });
    const timer = setTimeout(
      () => {
        output.message({
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

    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
    output.once('close', () => {
      clearTimeout(timer);
      for (const { capture } of started) capture.close();
      slot.release();
      if (!output.readableEnded && outcome === 'completed') outcome = 'client gone';
      const stats = output.stats;
      this.logger.log(`request ${requestId}: capture ${id} ended (${outcome})`);
      this.audit.record({
        ...base,
        event: 'capture.end',
        outcome,
        packets: stats.packetsWritten,
        bytes: stats.bytesWritten,
        discarded: stats.packetsDiscarded,
        duration_ms: Date.now() - startedAt,
        unavailable,
      });
      resolveFinished();
    });
    this.registry.track({
      id,
      requestId,
      finished,
      stop: (reason) => {
        output.message({ type: 'CAPTURE_STOPPED', origin: 'api', message: reason, timestampNs: nowNs() });
        stopAll(reason);
      },
      abort: () => output.destroy(),
    });
    this.audit.record({ ...base, event: 'capture.start', unavailable });
    return {
      id,
      output,
      contentType: request.format === 'pcap' ? 'application/vnd.tcpdump.pcap' : 'application/x-pcapng',
    };
  }

  private agentBody(request: CaptureRequest, targets: CaptureTargets, target: CaptureInstanceTarget) {
    return {
      target: {
        app_guid: targets.app.guid,
        ...(target.instanceGuid === undefined ? {} : { instance_guid: target.instanceGuid }),
        ...(target.internalIp === undefined ? {} : { instance_ip: target.internalIp }),
      },
      device: request.device,
      filter: request.agentFilter,
      snaplen: request.snaplen,
      duration_seconds: request.durationSeconds,
      ...(request.maxPackets === undefined ? {} : { max_packets: request.maxPackets }),
      ...(request.maxBytes === undefined ? {} : { max_bytes: request.maxBytes }),
      origin: {
        org: targets.org.name,
        space: targets.space.name,
        app: targets.app.name,
        process: targets.processType,
        index: String(target.index),
        cell_host: target.host ?? '',
      },
    };
  }

  private describe(targets: CaptureTargets, target: CaptureInstanceTarget): string {
    const where = target.host === undefined ? '' : `, cell ${target.host}`;
    return `instance ${target.index} of ${targets.app.name} (${targets.processType}${where})`;
  }
}
