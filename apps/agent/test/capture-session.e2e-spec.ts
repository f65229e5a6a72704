/**
 * The session lends the engine's reusable batch buffers (`batchPool`) to its output and gives each back in the
 * write's callback. With both real engines on a real interface and an output that takes its time to call back,
 * no chunk changes between being written and being called back, every packet arrives once and in order, and
 * batches the session does not write (discarded while the reader is behind) go back to the engine at once.
 */
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

import {
  IsolatedCapture,
  LiveCapture,
  type LiveCaptureOptions,
  type PacketBatch,
  type PacketSource,
} from '@pcap/capture';
import { TestNetwork, sendUdp } from '../../../test/support/test-network';
import { CaptureSession } from '../src/capture/capture-session';
import { udpSequences } from './pcapng-events';

/**
 * An output like a slow HTTP response: it calls back on each chunk `delayMs` after taking it, or only when
 * `open()` is called while `held`. It compares each chunk with a copy taken when the chunk was written.
 */
class SlowOutput extends Writable {
  readonly taken: Buffer[] = [];
  changed = 0;
  private held = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly delayMs: number) {
    super({ highWaterMark: 16 * 1024 });
  }

  hold(): void {
    this.held = true;
  }

  open(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    const copy = Buffer.from(chunk);
    this.taken.push(copy);
    const done = (): void => {
      if (!chunk.equals(copy)) this.changed++;
      callback();
    };
    if (this.held) this.waiting.push(done);
    else setTimeout(done, this.delayMs);
  }
}

describe('CaptureSession lends the engine batches to its output (real kernel)', () => {
  let net: TestNetwork;
  const sessions: CaptureSession[] = [];

  beforeEach(() => {
    net = TestNetwork.create();
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.abort();
    net.destroy();
  });

  function startSession(
    live: PacketSource,
    watermark: number,
  ): { session: CaptureSession; lent: () => number } {
    let lent = 0;
    live.on('data', (batch: PacketBatch) => {
      if (batch.release !== undefined) lent++;
    });
    const session = new CaptureSession({
      id: `lend-${sessions.length}`,
      live,
      device: net.b.device,
      filter: 'udp',
      description: 'test',
      origin: 'test',
      userAppl: 'capture-session e2e',
      highWatermark: watermark,
      lowWatermark: watermark / 2,
    });
    sessions.push(session);
    return { session, lent: () => lent };
  }

  const engines: Array<[string, (o: LiveCaptureOptions) => Promise<PacketSource>]> = [
    ['worker process', (o) => IsolatedCapture.open(o)],
    ['in process', (o) => Promise.resolve(LiveCapture.open(o))],
  ];

  /** A capture of UDP to `port` on b, in batches of at most 64 KiB from a pool of `batchPool` buffers. */
  function captureUdp(
    open: (o: LiveCaptureOptions) => Promise<PacketSource>,
    port: number,
    batchPool: number,
  ): Promise<PacketSource> {
    return open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: `udp dst port ${port}`,
      timeoutMs: 20,
      maxBatchBytes: 64 * 1024,
      batchPool,
    });
  }

  it.each(engines)(
    '%s: every packet once and in order, no chunk changed before its callback',
    async (_name, open) => {
      const port = 7201;
      const sent = 20000;
      const live = await captureUdp(open, port, 2);
      const { session, lent } = startSession(live, 64 << 20);
      const output = new SlowOutput(1);
      session.pipeTo(output);
      await sendUdp(net, net.a, net.b, { port, count: sent, size: 200, gapUs: 0 });
      await session.stop('CAPTURE_STOPPED', 'done');
      const stats = await session.finished;
      for (let i = 0; i < 400 && !output.writableFinished; i++) await delay(10);

      expect(output.writableFinished).toBe(true);
      expect(stats).toMatchObject({ delivered: sent, written: sent, discarded: 0 });
      expect(stats.kernel.dropped).toBe(0);
      // 20000 × 276 bytes in batches of at most 64 KiB (~85): the pool's 2 buffers were each lent several times
      // (the others came as copies while both were held)
      expect(lent()).toBeGreaterThan(4);
      expect(output.changed).toBe(0);
      const seqs = await udpSequences(Buffer.concat(output.taken));
      expect(seqs).toEqual(Array.from({ length: sent }, (_, i) => i));
    },
  );

  it.each(engines)(
    '%s: batches discarded while the output holds its chunk go back to the engine at once',
    async (_name, open) => {
      const port = 7202;
      const sent = 20000;
      const live = await captureUdp(open, port, 3);
      // A queue of at most one batch: while the output holds the first batch and the queue the second, every
      // later batch is discarded; lent in the third buffer, it must come back for the next one to be lent again.
      const { session, lent } = startSession(live, 96 * 1024);
      const output = new SlowOutput(0);
      session.pipeTo(output);
      output.hold();
      await sendUdp(net, net.a, net.b, { port, count: sent, size: 200, gapUs: 0 });
      await delay(100);
      // Three buffers, one held by the output and one by the queue: more lent batches than that were given back.
      expect(lent()).toBeGreaterThan(10);
      output.open();
      await session.stop('CAPTURE_STOPPED', 'done');
      const stats = await session.finished;
      for (let i = 0; i < 400 && !output.writableFinished; i++) await delay(10);

      expect(stats.discarded).toBeGreaterThan(0);
      expect(stats.delivered).toBe(sent);
      expect(stats.written + stats.discarded).toBe(sent);
      expect(output.changed).toBe(0);
      const seqs = await udpSequences(Buffer.concat(output.taken));
      expect(seqs).toHaveLength(stats.written);
      // whole batches are missing, nothing is repeated or out of order
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    },
  );
});
