import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

import { CaptureFailedError } from '../errors';
import type { PacketBatch } from '../packet-batch';
import { poolSlotBytes, pooledBatch } from './batch-pool';
import {
  resolveCaptureOptions,
  type LiveCaptureOptions,
  type ResolvedCaptureOptions,
} from './capture-options';
import { fromNativeError, messageOf } from './native-errors';
import { nativeAddon, type NativeBatch, type NativeLiveCapture } from './native-binding';
import type { CaptureStats, PacketSource } from './packet-source';

/** How long a failing capture waits for its consumer to take what was drained before it is destroyed. */
const DRAIN_ON_FAILURE_MS = 5000;

/**
 * A live libpcap capture as a Readable of {@link PacketBatch} (object mode).
 *
 * Backpressure: when the stream's buffer holds `highWaterMark` batches, the engine stops reading the kernel;
 * packets then queue in the kernel ring and, once it is full, are dropped by the kernel and counted in
 * `stats().dropped`. Memory in this process stays bounded by `highWaterMark × maxBatchBytes`.
 *
 * Lifetime: `stop()` ends the stream gracefully (what the kernel already captured is delivered, then 'end');
 * `destroy()` ends it at once. Either may be called from inside a 'data' handler. A device that disappears
 * (for example the container's veth when the container dies) first delivers what the kernel still held, then
 * destroys the stream with a CaptureFailedError.
 *
 * With `batchPool` > 0, batches come with `release()`: a consumer that calls it when done with a batch lets the
 * engine write the next ones into the same few buffers, with no allocation and no second copy per batch.
 * With `onBatch`, batches go to that callback instead of 'data' events (see LiveCaptureOptions).
 */
export class LiveCapture extends Readable implements PacketSource {
  readonly options: ResolvedCaptureOptions;
  /** libpcap link type (DLT), e.g. 1 for Ethernet. */
  readonly linkType: number;
  /** The snapshot length libpcap applied. */
  readonly snaplen: number;
  /** Kernel timestamp precision; batch timestamps are always in nanoseconds. */
  readonly precision: 'nano' | 'micro';
  /** libpcap's activation warning, if any (e.g. promiscuous mode not supported). */
  readonly warning: string | null;
  /** Wall-clock time the capture was opened, ns since the epoch. */
  readonly startedAtNs: bigint;

  private readonly native: NativeLiveCapture;
  private finalStats: CaptureStats | undefined;
  private stopping = false;
  private failing = false;
  /** onBatch returned false: the kernel is not read until resume(). */
  private batchesPaused = false;

  private constructor(native: NativeLiveCapture, options: ResolvedCaptureOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark });
    this.native = native;
    this.options = options;
    this.linkType = native.linkType;
    this.snaplen = native.snaplen;
    this.precision = native.precision;
    this.warning = native.warning;
    this.startedAtNs = BigInt(Date.now()) * 1_000_000n;
    native.start((err, data, count, pooled, used) => this.onNative(err, data, count, pooled, used));
    const slotBytes = poolSlotBytes(options.maxBatchBytes, native.snaplen);
    for (let i = 0; i < options.batchPool; i++) native.provide(Buffer.allocUnsafeSlow(slotBytes));
    if (options.onBatch) this.resume(); // nothing is pushed but the end: flowing, so that 'end' is emitted
  }

  /**
   * Opens and activates a capture (inside `options.netns` when given). Throws a typed CaptureError (invalid
   * option, device or namespace not found, bad filter, no permission); nothing is left open then.
   */
  static open(options: LiveCaptureOptions): LiveCapture {
    const resolved = resolveCaptureOptions(options);
    let native: NativeLiveCapture;
    try {
      native = new (nativeAddon().LiveCapture)({
        device: resolved.device,
        netns: resolved.netns,
        filter: resolved.filter,
        snaplen: resolved.snaplen,
        bufferSize: resolved.bufferSize,
        timeoutMs: resolved.timeoutMs,
        promiscuous: resolved.promiscuous,
        immediate: resolved.immediate,
        maxBatchBytes: resolved.maxBatchBytes,
      });
    } catch (err) {
      throw fromNativeError(err);
    }
    return new LiveCapture(native, resolved);
  }

  /** Current counters; after the capture has ended, the final ones. */
  stats(): CaptureStats {
    return this.finalStats ?? this.native.stats();
  }

  /**
   * Graceful stop: waits long enough for the kernel to hand over what it holds (the block timeout in buffered
   * mode), delivers it, then ends the stream. Resolves with the final statistics. Idempotent.
   */
  async stop(): Promise<CaptureStats> {
    if (this.finalStats || this.destroyed) return this.stats();
    if (!this.stopping) {
      this.stopping = true;
      if (!this.options.immediate) await delay(this.options.timeoutMs + 10);
      this.drainAndEnd();
    }
    return this.stats();
  }

  override _read(): void {
    if (!this.stopping && !this.finalStats && !this.batchesPaused) this.native.resume();
  }

  /** Also resumes reading after `onBatch` returned false. */
  override resume(): this {
    if (this.batchesPaused) {
      this.batchesPaused = false;
      if (!this.stopping && !this.finalStats) this.native.resume();
    }
    return super.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.closeNative();
    callback(err);
  }

  private onNative(
    err: (Error & { code?: string }) | null,
    data: Buffer | null,
    count: number,
    pooled: boolean,
    used: number,
  ): void {
    if (err) {
      void this.failAfterDrain(err);
      return;
    }
    if (data === null || this.finalStats) return;
    const batch = this.toBatch({ data, count, pooled, used });
    const { onBatch } = this.options;
    if (onBatch === undefined) {
      if (!this.push(batch)) this.native.pause();
    } else if (onBatch(batch) === false && !this.finalStats) {
      this.batchesPaused = true;
      this.native.pause();
    }
  }

  /** A batch drained at the end: to onBatch (whatever it returns: the capture is ending) or into the stream. */
  private deliverFinal(batch: PacketBatch): void {
    if (this.options.onBatch) this.options.onBatch(batch);
    else this.push(batch);
  }

  private toBatch({ data, count, pooled, used }: NativeBatch): PacketBatch {
    if (!pooled) return { data, count };
    return pooledBatch(data.subarray(0, used), count, () => this.native.provide(data));
  }

  /**
   * The device went away (or the socket failed). The kernel may still hold a block it retires only after the
   * block timeout: wait for it, deliver what it holds, let the consumer take what is buffered, then fail with
   * libpcap's own account of what happened.
   */
  private async failAfterDrain(first: Error): Promise<void> {
    if (this.failing || this.finalStats) return;
    this.failing = true;
    let cause: unknown = first;
    if (!this.options.immediate) await delay(this.options.timeoutMs + 10);
    try {
      for (let batch = this.native.readNow(); batch !== null; batch = this.native.readNow()) {
        if (this.destroyed) return;
        this.deliverFinal(this.toBatch(batch));
      }
    } catch (err) {
      cause = err; // e.g. "The interface disappeared": clearer than the poll error that woke us
    }
    for (
      let waited = 0;
      this.readableLength > 0 && !this.destroyed && waited < DRAIN_ON_FAILURE_MS;
      waited += 20
    ) {
      await delay(20);
    }
    this.closeNative();
    this.destroy(
      new CaptureFailedError(`capture on ${this.options.device} failed: ${messageOf(cause)}`, { cause }),
    );
  }

  private drainAndEnd(): void {
    if (this.finalStats) return;
    try {
      // Bounded: the kernel ring holds at most bufferSize bytes.
      for (let batch = this.native.readNow(); batch !== null; batch = this.native.readNow()) {
        this.deliverFinal(this.toBatch(batch));
      }
    } catch (err) {
      this.closeNative();
      this.destroy(fromNativeError(err));
      return;
    }
    this.closeNative();
    this.push(null);
  }

  private closeNative(): void {
    if (this.finalStats) return;
    this.native.close();
    this.finalStats = this.native.stats();
  }
}
