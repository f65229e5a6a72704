import type { Writable } from 'node:stream';

import {
  BoundedPacketQueue,
  EPB_OVERHEAD,
  encodeControlMessage,
  encodeInterfaceDescription,
  encodeInterfaceStatistics,
  encodeSectionHeader,
  nowNs,
  type CaptureStats,
  type ControlMessage,
  type ControlMessageFields,
  type ControlMessageType,
  type GcPacer,
  type PacketBatch,
  type PacketSource,
} from '@pcap/capture';

/** Counters of one finished session. Invariant: delivered = written + discarded + beyondLimit. */
export interface SessionStats {
  /** Packets the engine handed over. */
  readonly delivered: number;
  /** Packets queued for the output (all of them are written unless the reader went away). */
  readonly written: number;
  /** Packets discarded because the reader was slower than the capture (isb_osdrop). */
  readonly discarded: number;
  /** Packets delivered after a packet/byte limit was reached (drained, not written). */
  readonly beyondLimit: number;
  readonly kernel: CaptureStats;
  /** Why it ended. */
  readonly reason: ControlMessageType | 'CLIENT_GONE';
}

export interface CaptureSessionOptions {
  readonly id: string;
  /** Already opened; the session owns it from now on. */
  readonly live: PacketSource;
  readonly device: string;
  /** Filter as given by the user (if_filter). */
  readonly filter: string;
  /** if_description: what the interface is (app, instance, cell, ...). */
  readonly description: string;
  /** `origin` of control messages, e.g. `cell-1/<instance guid>`. */
  readonly origin: string;
  readonly userAppl: string;
  readonly durationMs?: number;
  readonly maxPackets?: number;
  readonly maxBytes?: number;
  /** Bytes queued for the reader above which packets are discarded, and at or below which that stops. */
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** Told of every batch's bytes (shared by the agent's sessions). */
  readonly gcPacer?: GcPacer;
}

/**
 * What waits for the reader: a run of EPBs (`count` > 0) or a block that is never discarded. `release` (a batch
 * lent from the engine's reusable buffers) runs once its bytes are no longer needed: written, discarded or cut off.
 */
interface Item {
  readonly data: Buffer;
  readonly count: number;
  readonly release?: () => void;
}

/**
 * One running capture and its pcapng byte stream: SHB and IDB first, then the engine's EPB batches (interface 0,
 * written as they come), control messages in-band (`@pcap/capture`'s encoding), and at the end an ISB with kernel
 * drops and our own discards.
 *
 * Backpressure is lossy and bounded (`@pcap/capture`'s BoundedPacketQueue): the engine is always read; while more
 * than `highWatermark` bytes wait for the reader, whole batches are discarded and counted, with one CONGESTED message
 * when discarding starts and one with the count when the reader has caught up to `lowWatermark`. Messages and
 * statistics are never discarded.
 *
 * The output is written with a callback per chunk ({@link pipeTo}), so a batch lent by the engine (`batchPool`)
 * goes back to it once the response has taken its bytes: the agent then neither copies nor allocates per batch.
 *
 * Lifetime: `stop()` ends gracefully (kernel drained, statistics written, output ended once written); an output
 * that closes early (the reader went away) aborts the capture at once. `finished` resolves in every case, never
 * rejects.
 */
export class CaptureSession {
  readonly finished: Promise<SessionStats>;
  readonly startedAtNs: bigint;

  private readonly queue: BoundedPacketQueue<Item>;
  private delivered = 0;
  private beyondLimit = 0;
  private packetsSeen = 0;
  private bytesSeen = 0;
  private limitHit = false;
  private ending: Promise<void> | undefined;
  private output: Writable | undefined;
  /** The output closed (ended or destroyed): nothing more is written. */
  private outputClosed = false;
  /** All blocks are queued; the output ends once the queue is empty. */
  private closing = false;
  /** The output takes more without buffering beyond its high-water mark (its last write() returned true). */
  private wanted = false;
  private pumping = false;
  private eof = false;
  private reason: SessionStats['reason'] = 'CAPTURE_STOPPED';
  private timer: NodeJS.Timeout | undefined;
  /** Written after the drained packets, just before the statistics. */
  private finalMessage: ControlMessage | undefined;
  private resolveFinished!: (stats: SessionStats) => void;
  private done = false;
  private aborted = false;

  constructor(private readonly opts: CaptureSessionOptions) {
    this.startedAtNs = opts.live.startedAtNs;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.queue = new BoundedPacketQueue<Item>({
      high: { bytes: opts.highWatermark },
      low: { bytes: opts.lowWatermark },
      sizeOf: (item) => ({ packets: item.count, bytes: item.data.length }),
      onCongestionStart: ({ queuedBytes }) =>
        this.message('CONGESTED', 'reader too slow: discarding packets', { queuedBytes }),
      onCongestionEnd: ({ discardedPackets, discardedBytes }) =>
        this.message('CONGESTED', `congestion over: ${discardedPackets} packets discarded`, {
          discardedPackets,
          discardedBytes,
          discardedTotal: this.queue.counters.discardedPackets,
        }),
      onReadable: () => this.pump(),
    });
    this.control(encodeSectionHeader({ userAppl: opts.userAppl }));
    this.control(
      encodeInterfaceDescription({
        linkType: opts.live.linkType,
        snaplen: opts.live.snaplen,
        name: opts.device,
        description: opts.description,
        filter: opts.filter === '' ? undefined : opts.filter,
      }),
    );
    opts.live.on('data', (batch: PacketBatch) => this.onBatch(batch));
    opts.live.once('error', (err: Error) => {
      this.reason = 'INSTANCE_UNAVAILABLE';
      this.finalMessage = this.toMessage('INSTANCE_UNAVAILABLE', `capture ended: ${err.message}`);
      this.finish();
    });
    opts.live.once('end', () => this.finish());
    if (opts.durationMs !== undefined) {
      this.timer = setTimeout(() => {
        void this.stop('LIMIT_REACHED', `duration limit of ${opts.durationMs! / 1000}s reached`, {
          limit: 'duration',
        });
      }, opts.durationMs);
    }
    if (opts.live.warning) this.message('START_CAPTURE_FAILED', `warning: ${opts.live.warning}`);
  }

  get id(): string {
    return this.opts.id;
  }

  /**
   * Starts writing the pcapng stream into `output` (once): every block queued so far, then the rest as it comes,
   * as fast as `output` takes it (its write() result and 'drain'); `output` is ended after the statistics. If it
   * closes before that (the reader went away), the capture is aborted.
   *
   * A lent batch is released in the write's callback, so `output` must be done with a chunk's bytes when it calls
   * back: true of Node's sockets and HTTP responses (the bytes have gone to the kernel, encrypted by TLS on the
   * way), not of a stream that keeps chunks after its callback (a PassThrough).
   */
  pipeTo(output: Writable): void {
    if (this.output !== undefined) throw new Error('the session already has an output');
    this.output = output;
    if (this.aborted) {
      output.destroy();
      return;
    }
    output.on('drain', () => {
      this.wanted = true;
      this.pump();
    });
    output.once('close', () => {
      this.outputClosed = true;
      if (!this.done) this.abort();
    });
    // A failed write also closes the output; without a listener the 'error' event would be thrown.
    output.on('error', () => undefined);
    this.wanted = true;
    this.pump();
  }

  /**
   * Graceful stop: the engine drains what the kernel holds, then a message of `type` and the statistics are
   * queued and the output ends once read. Idempotent; resolves when the capture has closed.
   */
  stop(type: ControlMessageType, text: string, fields?: ControlMessageFields): Promise<void> {
    if (!this.ending) {
      this.reason = type;
      clearTimeout(this.timer);
      this.finalMessage = this.toMessage(type, text, fields);
      this.ending = this.opts.live.stop().then(
        () => undefined,
        () => undefined,
      );
    }
    return this.ending;
  }

  /** Immediate stop without statistics (the reader is gone or the drain timed out). */
  abort(): void {
    if (this.done) return;
    this.aborted = true;
    this.reason = 'CLIENT_GONE';
    clearTimeout(this.timer);
    this.opts.live.destroy();
    this.output?.destroy();
    this.settle();
  }

  private onBatch(batch: PacketBatch): void {
    if (this.done) {
      batch.release?.();
      return;
    }
    // A lent batch is no new memory: only copies count towards the next collection.
    if (batch.release === undefined) this.opts.gcPacer?.account(batch.data.length);
    this.delivered += batch.count;
    if (this.limitHit) {
      this.beyondLimit += batch.count;
      batch.release?.();
      return;
    }
    const kept = this.applyLimits(batch);
    this.beyondLimit += batch.count - kept.count;
    // not queued (none left under the limit, or discarded while the reader is behind): the engine can have it back
    if (kept.count === 0 || !this.queue.offer(kept)) batch.release?.();
    if (this.limitHit) void this.stop('LIMIT_REACHED', this.limitText(), { limit: this.limitName() });
  }

  /**
   * Moves queued blocks into the output while it takes them, so that what the reader has not taken stays in the
   * bounded queue; ends the output once everything is out.
   */
  private pump(): void {
    // shift() can end a congestion episode, whose message is queued and pumped from inside shift(): a nested pump
    // would write it before the item the outer loop holds. The outer loop delivers it anyway.
    const output = this.output;
    if (output === undefined || this.outputClosed || this.pumping) return;
    this.pumping = true;
    try {
      while (this.wanted) {
        const item = this.queue.shift();
        if (item === undefined) break;
        const release = item.release;
        this.wanted = output.write(item.data, release === undefined ? undefined : () => release());
      }
    } finally {
      this.pumping = false;
    }
    if (this.closing && this.queue.length === 0 && !this.eof) {
      this.eof = true;
      output.end();
    }
  }

  /** Cuts the batch at the packet where a packet or byte limit is reached. */
  private applyLimits(batch: PacketBatch): Item {
    const { maxPackets, maxBytes } = this.opts;
    if (maxPackets === undefined && maxBytes === undefined) return batch;
    let off = 0;
    let n = 0;
    while (n < batch.count) {
      if (maxPackets !== undefined && this.packetsSeen >= maxPackets) break;
      const length = batch.data.readUInt32LE(off + 4);
      const capturedLength = batch.data.readUInt32LE(off + 20);
      if (maxBytes !== undefined && this.bytesSeen + capturedLength > maxBytes) break;
      this.bytesSeen += capturedLength;
      this.packetsSeen++;
      n++;
      off += length;
      if (length < EPB_OVERHEAD) break;
    }
    if (n < batch.count || (maxPackets !== undefined && this.packetsSeen >= maxPackets)) this.limitHit = true;
    return n === batch.count
      ? batch
      : { data: batch.data.subarray(0, off), count: n, release: batch.release };
  }

  private limitName(): 'packets' | 'bytes' {
    const { maxPackets } = this.opts;
    return maxPackets !== undefined && this.packetsSeen >= maxPackets ? 'packets' : 'bytes';
  }

  private limitText(): string {
    return this.limitName() === 'packets'
      ? `packet limit of ${this.opts.maxPackets} reached`
      : `byte limit of ${this.opts.maxBytes} reached`;
  }

  private toMessage(type: ControlMessageType, text: string, fields?: ControlMessageFields): ControlMessage {
    return {
      type,
      message: text,
      origin: this.opts.origin,
      timestampNs: nowNs(),
      ...(fields ? { fields } : {}),
    };
  }

  private control(block: Buffer): void {
    this.queue.offerControl({ data: block, count: 0 });
  }

  private message(type: ControlMessageType, text: string, fields?: ControlMessageFields): void {
    if (this.done || this.closing || this.outputClosed) return;
    this.control(encodeControlMessage(this.toMessage(type, text, fields)));
  }

  private finish(): void {
    if (this.done) return;
    clearTimeout(this.timer);
    if (!this.outputClosed) {
      if (this.finalMessage) this.control(encodeControlMessage(this.finalMessage));
      const kernel = this.opts.live.stats();
      const now = nowNs();
      this.control(
        encodeInterfaceStatistics(0, {
          timestampNs: now,
          startTimeNs: this.startedAtNs,
          endTimeNs: now,
          ifRecv: kernel.received,
          ifDrop: kernel.dropped + kernel.ifDropped,
          osDrop: this.queue.counters.discardedPackets,
          usrDeliv: this.queue.counters.enqueuedPackets,
        }),
      );
      this.closing = true;
      this.pump();
    }
    this.settle();
  }

  private settle(): void {
    if (this.done) return;
    this.done = true;
    const counters = this.queue.counters;
    this.resolveFinished({
      delivered: this.delivered,
      written: counters.enqueuedPackets,
      discarded: counters.discardedPackets,
      beyondLimit: this.beyondLimit,
      kernel: this.opts.live.stats(),
      reason: this.reason,
    });
  }
}
