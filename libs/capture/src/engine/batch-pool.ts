import { EPB_OVERHEAD, type PacketBatch } from '../packet-batch';

/** Bytes of one reusable batch buffer (`batchPool`): a full batch plus the packet that may end it past the limit. */
export function poolSlotBytes(maxBatchBytes: number, snaplen: number): number {
  return maxBatchBytes + EPB_OVERHEAD + Math.ceil(snaplen / 4) * 4;
}

/** A batch in a reusable buffer: `giveBack` runs on its first `release()` only. */
export function pooledBatch(data: Buffer, count: number, giveBack: () => void): PacketBatch {
  let released = false;
  return {
    data,
    count,
    release: () => {
      if (released) return;
      released = true;
      giveBack();
    },
  };
}
