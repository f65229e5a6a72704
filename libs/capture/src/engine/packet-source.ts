import type { Readable } from 'node:stream';

/** Counters of one live capture. */
export interface CaptureStats {
  /**
   * Packets the kernel accepted for this socket (libpcap `ps_recv`). On Linux this includes packets it then
   * dropped, and on `lo` each packet is counted in both directions though delivered once.
   */
  received: number;
  /** Packets the kernel dropped because the ring buffer was full (`ps_drop`). */
  dropped: number;
  /** Packets the interface dropped (`ps_ifdrop`). */
  ifDropped: number;
  /** Packets handed to JavaScript in batches. */
  delivered: number;
  /** Batches handed to JavaScript. */
  batches: number;
  /** Packets read from the kernel that the engine could not store (out of memory); normally 0. */
  lost: number;
  /**
   * Times the engine woke up and read the kernel's ring: about once per full kernel block (256 KiB) under load, far
   * fewer once reads are paced (a ring of 4 MiB or more; docs/capture-engine.md).
   */
  reads: number;
}

/**
 * What a consumer of a live capture relies on, whether the capture runs in this process ({@link LiveCapture}) or
 * in a worker process of its own ({@link IsolatedCapture}): a Readable of PacketBatch (object mode) with
 * backpressure, the interface's properties, counters and a graceful stop. `destroy()` ends it at once; a failure
 * (the device went away, the worker crashed) destroys it with a CaptureFailedError after what was captured has
 * been delivered.
 */
export interface PacketSource extends Readable {
  /** libpcap link type (DLT), e.g. 1 for Ethernet. */
  readonly linkType: number;
  /** The snapshot length libpcap applied. */
  readonly snaplen: number;
  /** Kernel timestamp precision; batch timestamps are always in nanoseconds. */
  readonly precision: 'nano' | 'micro';
  /** libpcap's activation warning, if any. */
  readonly warning: string | null;
  /** Wall-clock time the capture was opened, ns since the epoch. */
  readonly startedAtNs: bigint;
  stats(): CaptureStats;
  /** Delivers what the kernel holds, then ends the stream; resolves with the final counters. Idempotent. */
  stop(): Promise<CaptureStats>;
}
