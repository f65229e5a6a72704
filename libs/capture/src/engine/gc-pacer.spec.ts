import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { GcPacer } from './gc-pacer';

const MiB = 1 << 20;
const CHUNK = 256 * 1024;

/** Allocates `total` bytes of short-lived Buffers, as a capture's batches are, telling `pacer` of each. */
function churn(total: number, pacer: GcPacer): number {
  let checksum = 0;
  for (let done = 0; done < total; done += CHUNK) {
    const batch = Buffer.allocUnsafe(CHUNK);
    batch[0] = done & 0xff;
    checksum += batch[0];
    pacer.account(CHUNK);
  }
  return checksum;
}

function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('GcPacer', () => {
  it('keeps dead packet buffers from piling up: external memory stays near the budget', () => {
    fullGc();
    const before = process.memoryUsage().arrayBuffers;
    const pacer = new GcPacer(4 * MiB);
    expect(pacer.enabled).toBe(true);
    churn(48 * MiB, pacer);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(pacer.runs).toBe(12);
    // Without pacing V8 would leave these dead buffers until its own limit (tens of MB more external memory).
    expect(grown).toBeLessThan(8 * MiB);
  });

  it('is off with a budget of 0 (no collection is ever forced)', () => {
    const off = new GcPacer(0);
    expect(off.enabled).toBe(false);
    churn(8 * MiB, off);
    expect(off.runs).toBe(0);
  });
});
