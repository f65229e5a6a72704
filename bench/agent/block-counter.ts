/**
 * Walks a little-endian pcapng byte stream (any chunking) by block headers only: counts Enhanced Packet Blocks
 * without decoding them and keeps every other block (SHB, IDB, control messages, ISB) as slices, in order, so the
 * rest of the stream can be read with `@pcap/capture`'s readPcapng afterwards. Constant work per block, so the
 * reader costs far less CPU than the agent it measures.
 */
const EPB = 0x00000006;

export class PcapngBlockCounter {
  epbs = 0;
  bytes = 0;
  /** The non-EPB blocks, as a valid pcapng stream without its packets. */
  readonly kept: Buffer[] = [];
  /** Bytes of the current block still to come. */
  private remaining = 0;
  private keeping = false;
  /** Start of a block header split across chunks (< 8 bytes). */
  private head: Buffer | undefined;

  push(input: Buffer): void {
    this.bytes += input.length;
    let chunk = input;
    if (this.head) {
      chunk = Buffer.concat([this.head, input]);
      this.head = undefined;
    }
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        if (this.keeping) this.kept.push(chunk.subarray(off, off + n));
        off += n;
        this.remaining -= n;
        continue;
      }
      if (chunk.length - off < 8) {
        this.head = Buffer.from(chunk.subarray(off));
        return;
      }
      const type = chunk.readUInt32LE(off);
      const length = chunk.readUInt32LE(off + 4);
      if (length < 12 || length % 4 !== 0) {
        throw new Error(`bad pcapng block length ${length} (type 0x${type.toString(16)}) at byte ${off}`);
      }
      this.keeping = type !== EPB;
      if (!this.keeping) this.epbs++;
      this.remaining = length;
    }
  }
}
