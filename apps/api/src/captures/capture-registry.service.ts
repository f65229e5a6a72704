import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';

import { ApiConfig } from '../config/api-config';
import { CaptureNotFoundError, DrainingError, TooManyCapturesError } from '../http/api.errors';

/** A running capture as the registry sees it. */
export interface TrackedCapture {
  readonly id: string;
  readonly requestId: string;
  /** UAA user id of who started it: only they may stop it. */
  readonly userId: string;
  /** Graceful: agents drain and end with statistics; the client gets the rest of the stream. */
  stop(reason: string): void;
  /** Immediate: every agent connection is dropped. */
  abort(): void;
  /** Resolves when the capture has ended (never rejects). */
  readonly finished: Promise<void>;
}

/** A held concurrency slot; `release` is idempotent. */
export interface CaptureSlot {
  release(): void;
}

/**
 * Counts running captures against `limits.concurrent_captures` (global) and `concurrent_captures_per_user`,
 * and drains them on shutdown: stop accepting (health turns 503), stop every capture gracefully, wait at most
 * `drain_timeout_seconds`, then abort what is left.
 */
@Injectable()
export class CaptureRegistry implements BeforeApplicationShutdown {
  private readonly logger = new Logger(CaptureRegistry.name);
  private readonly perUser = new Map<string, number>();
  private readonly running = new Map<string, TrackedCapture>();
  private slots = 0;
  private draining = false;

  constructor(@Inject(ApiConfig) private readonly config: ApiConfig) {}

  get isDraining(): boolean {
    return this.draining;
  }

  get active(): number {
    return this.running.size;
  }

  /** Takes a slot for `userId`; throws TooManyCapturesError naming the limit, or DrainingError. */
  reserve(userId: string): CaptureSlot {
    if (this.draining) throw new DrainingError('The pcap API is shutting down; try again in a moment.');
    const { concurrent_captures: global, concurrent_captures_per_user: perUser } = this.config.limits;
    if (this.slots >= global) {
      throw new TooManyCapturesError(
        `Too many captures: the limit limits.concurrent_captures (${global}) is reached; try again later.`,
      );
    }
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= perUser) {
      throw new TooManyCapturesError(
        `You already run ${mine} captures: the limit limits.concurrent_captures_per_user is ${perUser}.`,
      );
    }
    this.slots++;
    this.perUser.set(userId, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.slots--;
        const left = (this.perUser.get(userId) ?? 1) - 1;
        if (left <= 0) this.perUser.delete(userId);
        else this.perUser.set(userId, left);
      },
    };
  }

  track(capture: TrackedCapture): void {
    this.running.set(capture.id, capture);
    void capture.finished.then(() => this.running.delete(capture.id));
  }

  /**
   * Explicit stop by the user who started the capture: agents drain, the stream ends with their statistics.
   * Throws CaptureNotFoundError for an unknown id and for another user's capture (which is not revealed).
   */
  stop(id: string, userId: string): TrackedCapture {
    const capture = this.running.get(id);
    if (!capture || capture.userId !== userId)
      throw new CaptureNotFoundError(`No running capture ${id} of yours.`);
    capture.stop('capture stopped by request');
    return capture;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    const running = [...this.running.values()];
    if (running.length === 0) return;
    this.logger.log(`draining ${running.length} captures`);
    for (const c of running) c.stop('the pcap API is shutting down');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.config.drainTimeoutSeconds * 1000);
    });
    const result = await Promise.race([Promise.all(running.map((c) => c.finished)), timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.logger.warn(`drain timeout reached: aborting ${this.running.size} captures`);
      for (const c of this.running.values()) {
        this.logger.warn(`request ${c.requestId}: capture ${c.id} aborted by the drain timeout`);
        c.abort();
      }
    }
  }
}
