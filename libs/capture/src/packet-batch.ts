/**
 * A run of captured packets as they cross from the native engine to JavaScript: a buffer holding complete
 * pcapng Enhanced Packet Blocks (EPB, block type 6), little-endian, interface id 0, timestamps in nanoseconds
 * since the Unix epoch (if_tsresol 9), no options. The buffer can be written to a pcapng stream as it is (after
 * setting the interface id), so the hot path does no per-packet work in JavaScript.
 */
export interface PacketBatch {
  /** Concatenated EPBs; owned by the receiver (until it calls `release()`). */
  readonly data: Buffer;
  /** Number of EPBs in `data`. */
  readonly count: number;
  /**
   * Present on a batch in one of the engine's reusable buffers (`batchPool`, either engine): the receiver calls
   * it once it no longer needs `data` (e.g. right after a synchronous write), and the engine writes a later batch
   * into the same memory. After that `data` must not be read. Calling it twice does nothing;
   * never calling it is safe (the buffer is then garbage collected and the pool has one buffer less).
   */
  readonly release?: () => void;
}

/** One packet of a batch, for code off the hot path (tests, classic pcap conversion). */
export interface PacketView {
  /** Nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint;
  readonly capturedLength: number;
  readonly originalLength: number;
  /** A view into the batch's buffer (not a copy). */
  readonly data: Buffer;
}

export const EPB_BLOCK_TYPE = 6;
/** Fixed part of an EPB: type, length, interface id, ts high, ts low, captured len, original len, trailing len. */
export const EPB_OVERHEAD = 32;

/** Iterates the packets of a batch (or of any buffer of back-to-back little-endian EPBs). */
export function* packetsOf(batch: PacketBatch | Buffer): Generator<PacketView> {
  const data = Buffer.isBuffer(batch) ? batch : batch.data;
  let off = 0;
  while (off + EPB_OVERHEAD <= data.length) {
    const type = data.readUInt32LE(off);
    const len = data.readUInt32LE(off + 4);
    if (len < 12 || off + len > data.length) {
      throw new RangeError(`malformed block at offset ${off}: length ${len}`);
    }
    if (type === EPB_BLOCK_TYPE) {
      const high = data.readUInt32LE(off + 12);
      const low = data.readUInt32LE(off + 16);
      const capturedLength = data.readUInt32LE(off + 20);
      const originalLength = data.readUInt32LE(off + 24);
      yield {
        timestampNs: (BigInt(high) << 32n) | BigInt(low),
        capturedLength,
        originalLength,
        data: data.subarray(off + 28, off + 28 + capturedLength),
      };
    }
    off += len;
  }
}
