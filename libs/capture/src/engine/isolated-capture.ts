import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

import { CaptureFailedError } from '../errors';
import type { PacketBatch } from '../packet-batch';
import { poolSlotBytes, pooledBatch } from './batch-pool';
import {
  resolveCaptureOptions,
  type LiveCaptureOptions,
  type ResolvedCaptureOptions,
} from './capture-options';
import { fromNativeError } from './native-errors';
import { nativeAddon, workerExecutable } from './native-binding';
import { FrameReader } from './frame-reader';
import type { CaptureStats, PacketSource } from './packet-source';

/** Frame types of the worker's channel, its stdout (native/src/capture-worker.cc). */
const Frame = { Ready: 1, Error: 2, Batch: 3, Stats: 4, End: 5, Failed: 6, Slot: 7 } as const;
/** Shared slots of a capture without `batchPool`: each batch is copied out of its slot at once, which is handed back. */
const SLOTS_WITHOUT_POOL = 3;
/**
 * The shared memory starts with one u32 ownership flag per slot (1 = the worker's; native/src/capture-worker.cc),
 * then the slots from the next page.
 */
const SLOT_HEADER_BYTES = 4096;
/** Above this much shared memory per capture (a large pool of large batches), batches all go through the channel. */
const MAX_SHARED_BYTES = 256 << 20;

const STATS_BYTES = 56;
/** How long a failing capture waits for its consumer to take what was drained before it is destroyed. */
const DRAIN_ON_FAILURE_MS = 5000;
/** Kept of the worker's stderr for the error of a crash. */
const STDERR_TAIL = 2048;

type WorkerProcess = ChildProcessByStdio<Writable, null, Readable>;

interface Opened {
  readonly linkType: number;
  readonly snaplen: number;
  readonly precision: 'nano' | 'micro';
  readonly warning: string | null;
}

/**
 * A live capture run by a process of its own (`pcap_capture_worker`, built with the addon), delivering the same
 * {@link PacketBatch} stream as {@link LiveCapture}. A fault in libpcap, the kernel interface or the native code
 * (a crash, an abort, the process killed) ends this capture only: the stream is destroyed with a
 * CaptureFailedError naming the signal or exit status, after what was already delivered.
 *
 * Backpressure: when the stream holds `highWaterMark` batches, the worker's channel is no longer read; the worker
 * then blocks and stops reading the kernel, whose ring fills and drops (counted in `stats().dropped`). Memory in
 * this process stays bounded by `highWaterMark × maxBatchBytes` plus one read of the channel.
 *
 * Batches travel through shared memory: the worker writes each into one of a few slots of a memfd both processes
 * map and announces it on the channel; only while every slot is taken (or when there are none: more than 256 MiB
 * of them, or no memfd) do batches go through the channel itself.
 * With `batchPool` > 0 there are that many slots and batches come with `release()`, as from LiveCapture: a batch is
 * a view of its slot, which goes back to the worker on release (an atomic store into the slot's ownership flag in
 * the same memory: no system call, the worker is not woken), so a consumer that releases its batches has them
 * copied by nobody and allocates nothing per batch. Without a pool, each batch is copied out of its slot into a
 * Buffer of its own and the slot goes back at once. With `onBatch`, batches go to that callback instead of 'data'
 * events (see LiveCaptureOptions).
 *
 * Lifetime: `stop()` ends gracefully (the worker delivers what the kernel holds, then its final statistics);
 * `destroy()` kills the worker at once. If this process dies, the worker dies with it (parent-death signal and
 * end of its stdin).
 */
export class IsolatedCapture extends Readable implements PacketSource {
  readonly linkType: number;
  readonly snaplen: number;
  readonly precision: 'nano' | 'micro';
  readonly warning: string | null;
  readonly startedAtNs: bigint;
  /** The worker's PID, for diagnostics. */
  readonly pid: number;

  private latest: CaptureStats = {
    received: 0,
    dropped: 0,
    ifDropped: 0,
    delivered: 0,
    batches: 0,
    lost: 0,
    reads: 0,
  };
  private final = false;
  private stopping: Promise<CaptureStats> | undefined;
  private resolveStopped: ((stats: CaptureStats) => void) | undefined;
  private failing = false;
  /** onBatch returned false: the channel is not read until resume(). */
  private batchesPaused = false;
  /** The channel's frames are delivered (with onBatch, from just after open() has resolved). */
  private framesStarted = false;
  /** The slots shared with the worker (see the class comment). */
  private readonly slotCount: number;
  /** Their ownership flags: storing 1 hands a slot back to the worker. */
  private readonly slotFree: Int32Array;

  private constructor(
    readonly options: ResolvedCaptureOptions,
    private readonly worker: WorkerProcess,
    private readonly frames: FrameReader,
    opened: Opened,
    private readonly stderrTail: () => string,
    private readonly shared: Buffer,
    private readonly slotBytes: number,
  ) {
    super({ objectMode: true, highWaterMark: options.highWaterMark });
    this.linkType = opened.linkType;
    this.snaplen = opened.snaplen;
    this.precision = opened.precision;
    this.warning = opened.warning;
    this.startedAtNs = BigInt(Date.now()) * 1_000_000n;
    this.pid = worker.pid ?? 0;
    this.slotCount =
      shared.length > SLOT_HEADER_BYTES ? Math.floor((shared.length - SLOT_HEADER_BYTES) / slotBytes) : 0;
    this.slotFree = new Int32Array(shared.buffer, shared.byteOffset, this.slotCount);
    frames.onFrame = (type, payload) => this.onFrame(type, payload);
    frames.onClose = () => this.onWorkerGone();
    frames.onBroken = (why) => {
      this.worker.kill('SIGKILL');
      void this.failAfterDrain(`capture worker on ${this.options.device} broke its channel: ${why}`);
    };
    const start = (): void => {
      this.framesStarted = true;
      if (!this.batchesPaused) frames.resume();
    };
    if (options.onBatch) {
      // Frames that came with READY wait until open() has resolved: a callback must not run before its caller
      // has the capture (a stream only buffers them).
      setImmediate(start);
      this.resume(); // nothing is pushed but the end: flowing, so that 'end' is emitted
    } else {
      start();
    }
  }

  /**
   * Starts a worker and waits until its capture is open. Rejects with the same typed CaptureErrors as
   * `LiveCapture.open` (invalid option, device or namespace not found, bad filter, no permission); nothing is
   * left running then.
   */
  static async open(options: LiveCaptureOptions): Promise<IsolatedCapture> {
    const resolved = resolveCaptureOptions(options);
    const args = ['--device', resolved.device];
    if (resolved.netns !== undefined) args.push('--netns', resolved.netns);
    if (resolved.filter) args.push('--filter', resolved.filter);
    args.push('--snaplen', String(resolved.snaplen), '--buffer-size', String(resolved.bufferSize));
    args.push(
      '--timeout-ms',
      String(resolved.timeoutMs),
      '--max-batch-bytes',
      String(resolved.maxBatchBytes),
    );
    if (resolved.promiscuous) args.push('--promiscuous');
    if (!resolved.immediate) args.push('--buffered');

    const slots = resolved.batchPool > 0 ? resolved.batchPool : SLOTS_WITHOUT_POOL;
    const slotBytes = poolSlotBytes(resolved.maxBatchBytes, resolved.snaplen);
    const shared = sharedMemory(SLOT_HEADER_BYTES + slots * slotBytes);
    if (shared) args.push('--shared-slots', String(slots), '--shared-slot-bytes', String(slotBytes));

    // The channel is a socket pair of our own rather than a stdio pipe, so that it can be read with one reused
    // buffer (net.Socket's onread): no 64 KiB chunk per read, no stream of chunks, each frame copied once.
    const [readFd, writeFd] = nativeAddon().socketPair();
    let worker: WorkerProcess;
    try {
      worker = spawn(workerExecutable(), args, {
        stdio: shared ? ['pipe', writeFd, 'pipe', shared.fd] : ['pipe', writeFd, 'pipe'],
        env: {},
      }) as WorkerProcess;
    } catch (err) {
      closeSync(readFd);
      throw err;
    } finally {
      // the worker has its own copies; ours would keep the channel open after it is gone
      closeSync(writeFd);
      if (shared) closeSync(shared.fd);
    }
    let stderr = '';
    worker.stderr.setEncoding('utf8');
    worker.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_TAIL);
    });
    worker.stdin.on('error', () => undefined); // the worker exited: its exit status tells why
    const frames = new FrameReader(worker, readFd);

    const opened = await new Promise<Opened>((resolve, reject) => {
      frames.onFrame = (type, payload) => {
        if (type === Frame.Ready) {
          frames.pause(); // the rest waits for the stream's consumer
          resolve({
            linkType: payload.readInt32LE(0),
            snaplen: payload.readInt32LE(4),
            precision: payload.readUInt32LE(8) === 1 ? 'nano' : 'micro',
            warning: payload.length > 12 ? payload.toString('utf8', 12) : null,
          });
        } else if (type === Frame.Error) {
          const [code, message] = splitText(payload);
          reject(fromNativeError(Object.assign(new Error(message), { code })));
        }
      };
      frames.onClose = (code, signal) =>
        reject(
          new CaptureFailedError(
            `capture worker exited before the capture opened (${exitText(code, signal)})${stderrSuffix(stderr)}`,
          ),
        );
      worker.once('error', (err) =>
        reject(new CaptureFailedError(`cannot start the capture worker: ${err.message}`, { cause: err })),
      );
    }).catch((err: unknown) => {
      worker.kill('SIGKILL');
      frames.destroy();
      throw err;
    });
    return new IsolatedCapture(
      resolved,
      worker,
      frames,
      opened,
      () => stderr,
      shared?.buffer ?? Buffer.alloc(0),
      slotBytes,
    );
  }

  /** The latest counters the worker reported (about once a second); after the end, the final ones. */
  stats(): CaptureStats {
    return { ...this.latest };
  }

  /**
   * Graceful stop: the worker delivers what the kernel holds, then its final statistics; the stream then ends.
   * Resolves with those statistics. Idempotent.
   */
  stop(): Promise<CaptureStats> {
    if (this.final || this.destroyed) return Promise.resolve(this.stats());
    this.stopping ??= new Promise<CaptureStats>((resolve) => {
      this.resolveStopped = resolve;
      this.worker.stdin.write('S');
      this.resume(); // the final frames must be read even if nobody is reading right now
    });
    return this.stopping;
  }

  override _read(): void {
    if (this.framesStarted && !this.batchesPaused) this.frames.resume();
  }

  /** Also resumes reading after `onBatch` returned false. */
  override resume(): this {
    if (this.batchesPaused) {
      this.batchesPaused = false;
      if (this.framesStarted) this.frames.resume();
    }
    return super.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.worker.exitCode === null && this.worker.signalCode === null) this.worker.kill('SIGKILL');
    this.worker.stdin.destroy();
    this.frames.destroy();
    this.settleStop();
    callback(err);
  }

  private onFrame(type: number, payload: Buffer): void {
    switch (type) {
      case Frame.Batch:
        // a BATCH frame is its packet count, then the EPBs of a batch
        if (!this.destroyed) this.deliver({ count: payload.readUInt32LE(0), data: payload.subarray(4) });
        return;
      case Frame.Slot: {
        const slot = payload.readUInt32LE(0);
        const bytes = payload.readUInt32LE(8);
        if (slot >= this.slotCount || bytes > this.slotBytes) {
          this.worker.kill('SIGKILL');
          void this.failAfterDrain(
            `capture worker on ${this.options.device} announced a batch outside its memory`,
          );
          return;
        }
        if (this.destroyed) return;
        this.deliver(this.slotBatch(slot, payload.readUInt32LE(4), bytes));
        return;
      }
      case Frame.Stats:
        this.latest = readStats(payload);
        return;
      case Frame.End:
        this.latest = readStats(payload);
        this.final = true;
        this.settleStop();
        this.push(null);
        return;
      case Frame.Failed: {
        this.latest = readStats(payload);
        this.final = true;
        const why = payload.toString('utf8', STATS_BYTES);
        void this.failAfterDrain(`capture on ${this.options.device} failed: ${why}`);
        return;
      }
      default:
        void this.failAfterDrain(`capture worker sent an unknown frame type ${type}`);
    }
  }

  private deliver(batch: PacketBatch): void {
    const { onBatch } = this.options;
    if (onBatch === undefined) {
      if (!this.push(batch)) this.frames.pause();
    } else if (onBatch(batch) === false && !this.stopping) {
      this.batchesPaused = true;
      this.frames.pause();
    }
  }

  /** A batch in shared slot `slot`: lent to the consumer (batchPool) or copied out, the slot handed back at once. */
  private slotBatch(slot: number, count: number, bytes: number): PacketBatch {
    const start = SLOT_HEADER_BYTES + slot * this.slotBytes;
    const data = this.shared.subarray(start, start + bytes);
    if (this.options.batchPool > 0) return pooledBatch(data, count, () => this.handBack(slot));
    const copy = Buffer.allocUnsafe(bytes);
    data.copy(copy);
    this.handBack(slot);
    return { count, data: copy };
  }

  /**
   * The slot is the worker's again: it sees the flag when it starts its next batch (no system call, no wake-up).
   * Atomics.store is sequentially consistent, so every read of the slot's bytes here happened before.
   */
  private handBack(slot: number): void {
    Atomics.store(this.slotFree, slot, 1);
  }

  private onWorkerGone(): void {
    if (this.final || this.destroyed) return;
    const { exitCode, signalCode } = this.worker;
    void this.failAfterDrain(
      `capture worker on ${this.options.device} ended unexpectedly (${exitText(exitCode, signalCode)})${stderrSuffix(this.stderrTail())}`,
    );
  }

  /** Lets the consumer take what was delivered before the failure, then fails the stream. */
  private async failAfterDrain(message: string): Promise<void> {
    if (this.failing) return;
    this.failing = true;
    this.final = true;
    this.settleStop();
    for (
      let waited = 0;
      this.readableLength > 0 && !this.destroyed && waited < DRAIN_ON_FAILURE_MS;
      waited += 20
    ) {
      await delay(20);
    }
    this.destroy(new CaptureFailedError(message));
  }

  private settleStop(): void {
    this.resolveStopped?.(this.stats());
    this.resolveStopped = undefined;
  }
}

/**
 * The worker's shared slots, or none when the memory cannot be had (then every batch goes through the channel, as
 * while all slots are held: slower, otherwise the same).
 */
function sharedMemory(bytes: number): { fd: number; buffer: Buffer } | undefined {
  if (bytes > MAX_SHARED_BYTES) return undefined;
  try {
    return nativeAddon().sharedMemory(bytes);
  } catch {
    return undefined;
  }
}

function readStats(p: Buffer): CaptureStats {
  const n = (i: number): number => Number(p.readBigUInt64LE(i * 8));
  return {
    received: n(0),
    dropped: n(1),
    ifDropped: n(2),
    delivered: n(3),
    batches: n(4),
    lost: n(5),
    reads: n(6),
  };
}

function splitText(payload: Buffer): [string, string] {
  const nul = payload.indexOf(0);
  return nul < 0
    ? ['', payload.toString('utf8')]
    : [payload.toString('utf8', 0, nul), payload.toString('utf8', nul + 1)];
}

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal ${signal}` : `exit status ${code ?? 'unknown'}`;
}

function stderrSuffix(stderr: string): string {
  const text = stderr.trim();
  return text === '' ? '' : `: ${text.split('\n').slice(-3).join(' | ')}`;
}
