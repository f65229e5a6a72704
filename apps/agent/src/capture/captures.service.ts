import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import {
  GcPacer,
  IsolatedCapture,
  LiveCapture,
  type LiveCaptureOptions,
  type PacketSource,
} from '@pcap/capture';

import { AgentConfig } from '../config/agent-config';
import { AgentMetrics } from '../metrics/agent-metrics';
import type { ResolvedTarget } from '../target/capture-target';
import { TargetResolver } from '../target/target-resolver.service';
import { AgentDrainingError, CaptureLimitError, CaptureNotFoundError } from './capture.errors';
import { withExclusion, type CaptureRequest } from './capture-request';
import { CaptureSession } from './capture-session';

export const AGENT_VERSION = '0.1.0';

/**
 * Reusable batch buffers per capture (the engine's `batchPool`; shared with the worker process): one being written
 * to the response, the next ones waiting for it. While all are lent, batches come as copies, as without a pool.
 */
const LENT_BATCHES = 4;

/** Who asked: for logs and for excluding the agent's own connection from host captures. */
export interface CaptureContext {
  readonly requestId: string;
  /** The API's address and this agent's port of the connection the capture streams over. */
  readonly peer?: { readonly address: string; readonly localPort: number };
}

/**
 * Runs this agent's captures: enforces the concurrency limit, resolves the target, opens the engine and keeps a
 * registry of running sessions until each has finished. On shutdown it stops accepting, stops every capture
 * gracefully and waits at most `drain_timeout_seconds` for them to finish, then aborts what is left.
 */
@Injectable()
export class CapturesService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(CapturesService.name);
  private readonly sessions = new Map<string, CaptureSession>();
  /** Slots taken by captures that are resolving their target, so the limit holds across awaits. */
  private starting = 0;
  private draining = false;
  private readonly gcPacer: GcPacer;

  constructor(
    @Inject(AgentConfig) private readonly config: AgentConfig,
    private readonly resolver: TargetResolver,
    private readonly metrics: AgentMetrics,
  ) {
    this.gcPacer = new GcPacer(config.capture.gc_pacing_bytes);
    if (config.capture.gc_pacing_bytes > 0 && !this.gcPacer.enabled) {
      this.logger.warn('capture.gc_pacing_bytes is set but V8 does not expose gc(): GC pacing is off');
    }
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get active(): number {
    return this.sessions.size;
  }

  /**
   * Starts a capture. Throws AgentDrainingError, CaptureLimitError, a target error or an engine error; nothing
   * stays open when it throws. The caller must give the session its output (`pipeTo`) or abort it.
   */
  async start(request: CaptureRequest, ctx: CaptureContext): Promise<CaptureSession> {
    if (this.draining) throw new AgentDrainingError('the agent is shutting down');
    const max = this.config.capture.max_concurrent;
    if (this.sessions.size + this.starting >= max) {
      throw new CaptureLimitError(`limit reached: this agent already runs ${max} captures`);
    }
    this.starting++;
    let session: CaptureSession;
    let description: string;
    try {
      const target = await this.resolver.resolve(request.target);
      if (this.draining) throw new AgentDrainingError('the agent is shutting down');
      const options: LiveCaptureOptions = {
        device: request.device,
        netns: target.netns,
        // In a container's namespace the agent's own stream is not visible; on the host it must be excluded.
        filter: target.kind === 'host' ? withExclusion(request.filter, ctx.peer) : request.filter,
        snaplen: request.snaplen,
        bufferSize: request.bufferSize,
        immediate: this.config.capture.immediate,
        timeoutMs: this.config.capture.block_timeout_ms,
        // Batches are lent to the session until the response has written them, then reused: no copy, no allocation.
        batchPool: LENT_BATCHES,
      };
      // By default one worker process per capture: a fault in it ends that capture only, never the agent or others.
      const live: PacketSource =
        this.config.capture.isolation === 'process'
          ? await IsolatedCapture.open(options)
          : LiveCapture.open(options);
      const cell = this.config.cell.name ?? hostname();
      description = describe(target, request, cell);
      try {
        session = new CaptureSession({
          id: randomUUID(),
          live,
          device: request.device,
          filter: request.filter,
          description,
          origin: target.container ? `${cell}/${target.container.handle}` : `${cell}/${request.device}`,
          userAppl: `pcap-agent ${AGENT_VERSION}`,
          durationMs: request.durationSeconds !== undefined ? request.durationSeconds * 1000 : undefined,
          maxPackets: request.maxPackets,
          maxBytes: request.maxBytes,
          highWatermark: this.config.queue.high_watermark,
          lowWatermark: this.config.queue.low_watermark,
          gcPacer: this.gcPacer,
        });
      } catch (err) {
        // Nothing may stay open when start() throws.
        live.destroy();
        throw err;
      }
    } finally {
      this.starting--;
    }
    this.sessions.set(session.id, session);
    const startedAt = Date.now();
    this.metrics.started(request.origin);
    this.logger.log(
      `capture ${session.id} started: request ${ctx.requestId}, ${description}, filter '${request.filter}'`,
    );
    void session.finished.then((stats) => {
      this.sessions.delete(session.id);
      this.metrics.finished(request.origin, stats, Date.now() - startedAt);
      this.logger.log(
        `capture ${session.id} ended (${stats.reason}): request ${ctx.requestId}, written ${stats.written}, discarded ${stats.discarded}, kernel dropped ${stats.kernel.dropped}`,
      );
    });
    return session;
  }

  /** Explicit stop: drains and ends the capture's stream with statistics. Throws CaptureNotFoundError. */
  async stop(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) throw new CaptureNotFoundError(`no running capture ${id}`);
    await session.stop('CAPTURE_STOPPED', 'capture stopped by request');
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    this.metrics.drain();
    const running = [...this.sessions.values()];
    if (running.length === 0) return;
    this.logger.log(`draining ${running.length} captures`);
    for (const s of running) void s.stop('CAPTURE_STOPPED', 'the agent is shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.capture.drain_timeout_seconds * 1000);
    });
    const result = await Promise.race([Promise.all(running.map((s) => s.finished)), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.logger.warn('drain timeout reached: aborting the remaining captures');
      for (const s of running) s.abort();
    }
  }
}

function describe(target: ResolvedTarget, request: CaptureRequest, cell: string): string {
  const labels = Object.entries(request.origin).map(([k, v]) => `${k}=${v}`);
  if (target.container) {
    labels.push(`app_guid=${target.container.appId}`, `instance_guid=${target.container.handle}`);
  } else {
    labels.push('host');
  }
  labels.push(`device=${request.device}`, `cell=${cell}`);
  return labels.join(' ');
}
