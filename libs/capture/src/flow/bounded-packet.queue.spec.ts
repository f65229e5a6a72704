import { BoundedPacketQueue, type CongestionEnd, type CongestionStart } from './bounded-packet.queue';

interface Item {
  readonly packets: number;
  readonly bytes: number;
  readonly control?: string;
}

function makeQueue(high: { packets?: number; bytes?: number }, low?: { packets?: number; bytes?: number }) {
  const starts: CongestionStart[] = [];
  const ends: CongestionEnd[] = [];
  let clock = 0;
  const queue = new BoundedPacketQueue<Item>({
    high,
    ...(low === undefined ? {} : { low }),
    sizeOf: (i) => i,
    onCongestionStart: (s) => starts.push(s),
    onCongestionEnd: (e) => ends.push(e),
    now: () => clock,
  });
  return { queue, starts, ends, tick: (ms: number) => (clock += ms) };
}

/** Deterministic PRNG (mulberry32) so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('BoundedPacketQueue', () => {
  it('accepts up to the high mark, then discards every item until drained to the low mark', () => {
    const { queue, starts, ends } = makeQueue({ packets: 10 }, { packets: 4 });
    expect(queue.offer({ packets: 6, bytes: 600 })).toBe(true);
    expect(queue.offer({ packets: 4, bytes: 400 })).toBe(true); // exactly at the high mark
    expect(queue.offer({ packets: 1, bytes: 100 })).toBe(false); // would cross it: episode starts
    expect(starts).toEqual([{ queuedPackets: 10, queuedBytes: 1000 }]);
    expect(queue.congested).toBe(true);
    expect(queue.shift()).toEqual({ packets: 6, bytes: 600 }); // 4 left: at the low mark → episode ends
    expect(queue.congested).toBe(false);
    expect(ends).toEqual([{ discardedPackets: 1, discardedBytes: 100, durationMs: 0 }]);
    expect(queue.offer({ packets: 2, bytes: 1 })).toBe(true);
    expect(queue.counters).toMatchObject({
      offeredPackets: 13,
      enqueuedPackets: 12,
      dequeuedPackets: 6,
      discardedPackets: 1,
      discardedBytes: 100,
      discardedItems: 1,
      congestionEpisodes: 1,
    });
  });

  it('keeps discarding while congested even when items would fit again, and reports the episode totals', () => {
    const { queue, ends, tick } = makeQueue({ bytes: 1000 }, { bytes: 100 });
    queue.offer({ packets: 9, bytes: 900 });
    expect(queue.offer({ packets: 2, bytes: 200 })).toBe(false);
    tick(25);
    expect(queue.offer({ packets: 1, bytes: 10 })).toBe(false); // fits, but the episode is not over
    expect(queue.offer({ packets: 3, bytes: 30 })).toBe(false);
    tick(5);
    queue.shift();
    expect(ends).toEqual([{ discardedPackets: 6, discardedBytes: 240, durationMs: 30 }]);
  });

  it('never discards control items and does not count them against the marks', () => {
    const { queue } = makeQueue({ packets: 2 }, { packets: 0 });
    queue.offer({ packets: 2, bytes: 1 });
    expect(queue.offer({ packets: 1, bytes: 1 })).toBe(false);
    queue.offerControl({ packets: 0, bytes: 0, control: 'CONGESTED' });
    queue.offerControl({ packets: 0, bytes: 0, control: 'LIMIT_REACHED' });
    expect(queue.length).toBe(3);
    expect(queue.queuedPackets).toBe(2);
    expect(queue.shift()?.packets).toBe(2);
    expect(queue.shift()?.control).toBe('CONGESTED');
    expect(queue.shift()?.control).toBe('LIMIT_REACHED');
    expect(queue.shift()).toBeUndefined();
    expect(queue.counters.controlItems).toBe(2);
  });

  it('accepts one oversized item into an empty queue only', () => {
    const { queue } = makeQueue({ packets: 5 });
    expect(queue.offer({ packets: 50, bytes: 1 })).toBe(true);
    expect(queue.offer({ packets: 1, bytes: 1 })).toBe(false);
  });

  it('wakes the consumer when an item lands in an empty queue', () => {
    let wakes = 0;
    const queue = new BoundedPacketQueue<Item>({
      high: { packets: 100 },
      sizeOf: (i) => i,
      onReadable: () => wakes++,
    });
    queue.offer({ packets: 1, bytes: 1 });
    queue.offer({ packets: 1, bytes: 1 });
    queue.shift();
    queue.shift();
    queue.offerControl({ packets: 0, bytes: 0 });
    expect(wakes).toBe(2);
  });

  it('validates its watermarks', () => {
    expect(() => new BoundedPacketQueue<Item>({ high: {}, sizeOf: (i) => i })).toThrow(
      /packets and\/or bytes/,
    );
    expect(
      () => new BoundedPacketQueue<Item>({ high: { packets: 5 }, low: { packets: 6 }, sizeOf: (i) => i }),
    ).toThrow(/must not exceed/);
    expect(() => new BoundedPacketQueue<Item>({ high: { bytes: -1 }, sizeOf: (i) => i })).toThrow(/>= 0/);
  });

  it.each([1, 2, 3, 42, 2024])(
    'keeps delivered + discarded = offered under random load (seed %i)',
    (seed) => {
      const random = rng(seed);
      const { queue, starts, ends } = makeQueue(
        { packets: 500, bytes: 64_000 },
        { packets: 100, bytes: 16_000 },
      );
      let delivered = 0;
      let deliveredBytes = 0;
      let offered = 0;
      let offeredBytes = 0;
      let controls = 0;
      let controlsOut = 0;
      let maxQueued = 0;
      for (let step = 0; step < 20_000; step++) {
        const r = random();
        if (r < 0.55) {
          const packets = 1 + Math.floor(random() * 40);
          const bytes = packets * (60 + Math.floor(random() * 1400));
          offered += packets;
          offeredBytes += bytes;
          queue.offer({ packets, bytes });
        } else if (r < 0.57) {
          controls++;
          queue.offerControl({ packets: 0, bytes: 0, control: 'm' });
        } else {
          const item = queue.shift();
          if (item?.control !== undefined) controlsOut++;
          else if (item !== undefined) {
            delivered += item.packets;
            deliveredBytes += item.bytes;
          }
        }
        maxQueued = Math.max(maxQueued, queue.queuedBytes);
      }
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        if (item.control !== undefined) controlsOut++;
        else {
          delivered += item.packets;
          deliveredBytes += item.bytes;
        }
      }
      const c = queue.counters;
      expect(c.discardedPackets).toBeGreaterThan(0); // the load really congested the queue
      expect(delivered + c.discardedPackets).toBe(offered);
      expect(deliveredBytes + c.discardedBytes).toBe(offeredBytes);
      expect(c.offeredPackets).toBe(offered);
      expect(c.dequeuedPackets).toBe(delivered);
      expect(controlsOut).toBe(controls);
      expect(maxQueued).toBeLessThanOrEqual(64_000);
      expect(starts.length).toBe(c.congestionEpisodes);
      expect(ends.length).toBe(starts.length - (queue.congested ? 1 : 0));
      expect(ends.reduce((n, e) => n + e.discardedPackets, 0)).toBe(c.discardedPackets);
    },
  );
});
