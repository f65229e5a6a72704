import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc()` as `--expose-gc` provides it. */
type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/**
 * Runs a young-generation garbage collection (a scavenge, ~1 ms with a small new space) after every `everyBytes`
 * of packet data that passed through this process.
 *
 * Why: packet batches live in Buffers whose memory is outside the V8 heap (the engine's batches, the worker channel's
 * frames, their copies on the way out). Their small JavaScript wrappers die young, but V8 only scavenges when the
 * young generation fills with JavaScript objects, which a capture allocates few of; and it collects external
 * memory on its own only once 64 MiB more of it exist than after the last full collection. At a few MB/s of packets
 * that lets tens of MB of dead batches pile up, and the allocator then keeps the pages (bench/agent measured the
 * agent growing by 30 MB with 5 captures). A scavenge per few MiB frees them while they are still young.
 *
 * `gc` comes from `--expose-gc` when the process was started with it, else is enabled at runtime through
 * `v8.setFlagsFromString` (a context created afterwards has it). Without it, or with `everyBytes` 0, pacing is off
 * and `enabled` is false.
 */
export class GcPacer {
  readonly enabled: boolean;
  /** Collections run so far. */
  runs = 0;
  private pending = 0;
  private readonly gc: GcFunction | undefined;

  constructor(private readonly everyBytes: number) {
    this.gc = everyBytes > 0 ? exposedGc() : undefined;
    this.enabled = this.gc !== undefined;
  }

  /** Counts `bytes` of packet data allocated; collects when the budget is used up. */
  account(bytes: number): void {
    if (this.gc === undefined) return;
    this.pending += bytes;
    if (this.pending < this.everyBytes) return;
    this.pending = 0;
    this.runs++;
    this.gc({ type: 'minor' });
  }
}

let cached: GcFunction | null | undefined;

function exposedGc(): GcFunction | undefined {
  if (cached === undefined) {
    const global = (globalThis as { gc?: unknown }).gc;
    if (typeof global === 'function') {
      cached = global as GcFunction;
    } else {
      try {
        setFlagsFromString('--expose-gc');
        const fromContext = runInNewContext('gc') as unknown;
        cached = typeof fromContext === 'function' ? (fromContext as GcFunction) : null;
      } catch {
        cached = null;
      }
    }
  }
  return cached ?? undefined;
}
