/**
 * The worker-process engine against the real kernel: the same contract as LiveCapture (exact packets, graceful
 * stop, backpressure, typed errors), plus isolation: a worker that crashes or is killed ends its own capture
 * with an error after what it delivered, and the other captures and this process go on.
 */
import { once } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

import {
  CaptureFailedError,
  DeviceNotFoundError,
  InvalidCaptureOptionError,
  InvalidFilterError,
  IsolatedCapture,
  NamespaceNotFoundError,
  packetsOf,
  type LiveCaptureOptions,
  type PacketBatch,
} from '@pcap/capture';
import { TestNetwork, ip, sendUdp } from '../../../test/support/test-network';

function count(capture: IsolatedCapture): { packets: number; ports: Set<number> } {
  const out = { packets: 0, ports: new Set<number>() };
  capture.on('data', (batch: PacketBatch) => {
    for (const p of packetsOf(batch)) {
      out.packets++;
      const ihl = ((p.data[14] ?? 0) & 0x0f) * 4;
      out.ports.add(p.data.readUInt16BE(14 + ihl + 2));
    }
  });
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100 && alive(pid); i++) await delay(20);
}

describe('IsolatedCapture: one capture per worker process (real kernel)', () => {
  let net: TestNetwork;
  const opened: IsolatedCapture[] = [];

  beforeEach(() => {
    net = TestNetwork.create();
  });
  afterEach(() => {
    for (const c of opened.splice(0)) c.destroy();
    net.destroy();
  });

  async function open(
    filter: string,
    extra: Pick<
      LiveCaptureOptions,
      | 'timeoutMs'
      | 'highWaterMark'
      | 'immediate'
      | 'snaplen'
      | 'maxBatchBytes'
      | 'batchPool'
      | 'onBatch'
      | 'bufferSize'
    > = {},
  ) {
    const c = await IsolatedCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter, ...extra });
    opened.push(c);
    return c;
  }

  it('delivers exactly the packets sent, ends with the final statistics on a graceful stop', async () => {
    const capture = await open('udp dst port 7101', { timeoutMs: 300 });
    expect(capture.linkType).toBe(1);
    expect(capture.snaplen).toBe(65535);
    expect(capture.pid).toBeGreaterThan(0);
    const got = count(capture);
    await sendUdp(net, net.a, net.b, { port: 7101, count: 500, gapUs: 0 });
    const ended = once(capture, 'end');
    const stats = await capture.stop();
    await ended;
    expect(got.packets).toBe(500);
    expect(stats.delivered).toBe(500);
    expect(stats.received).toBe(500);
    expect(stats.dropped).toBe(0);
    await waitGone(capture.pid);
    expect(alive(capture.pid)).toBe(false);
  });

  it('under load, gathers several full kernel blocks into one batch, up to maxBatchBytes', async () => {
    // a long block timeout: every block reaches the worker full (256 KiB, ~800 of these packets)
    const capture = await open('udp dst port 7108', { timeoutMs: 1000 });
    const got = count(capture);
    await sendUdp(net, net.a, net.b, { port: 7108, count: 20000, size: 200, gapUs: 0 });
    const stats = await capture.stop();
    expect(got.packets).toBe(20000);
    expect(stats.delivered).toBe(20000);
    // 20000 × 276-byte blocks = 5.3 MiB: 6 batches of up to 1 MiB, where one per kernel block would be 25
    expect(stats.batches).toBeLessThanOrEqual(10);
  });

  it('paces its reads under a steady load when the ring holds many blocks, and loses nothing', async () => {
    // as LiveCapture: the worker with libpcap's 2 MiB ring reads at every full kernel block, with an 8 MiB one
    // once an eighth of the ring would have filled; the same datagrams into both at the same time
    const perBlock = await open('udp dst port 7114');
    const paced = await open('udp dst port 7114', { bufferSize: 8 << 20 });
    const gotPerBlock = count(perBlock);
    const gotPaced = count(paced);
    // ~25k packets/s for ~1.2 s: ~37 MiB of ring, ~150 blocks of 256 KiB
    await sendUdp(net, net.a, net.b, { port: 7114, count: 30000, size: 1200, gapUs: 30 });
    const [perBlockStats, pacedStats] = await Promise.all([perBlock.stop(), paced.stop()]);
    expect(gotPaced.packets).toBe(30000);
    expect(pacedStats.delivered).toBe(30000);
    expect(pacedStats.dropped).toBe(0);
    expect(gotPerBlock.packets).toBeGreaterThan(0); // the reference for the reads only (see live-capture's test)
    expect(pacedStats.reads).toBeGreaterThan(0);
    expect(pacedStats.reads * 2).toBeLessThan(perBlockStats.reads);
  });

  it('hands over a batch it holds within the block timeout when the traffic stops', async () => {
    const capture = await open('udp dst port 7109', { timeoutMs: 200 });
    const got = count(capture);
    // one full kernel block and most of another: both are read as large reads, so the batch is held for more
    await sendUdp(net, net.a, net.b, { port: 7109, count: 1500, size: 200, gapUs: 0 });
    for (let waited = 0; got.packets < 1500 && waited < 3000; waited += 50) await delay(50);
    expect(got.packets).toBe(1500); // without stop(): the held batch went out on its own
  });

  it('with a batch pool, lends each batch in a shared slot its consumer released, never in one it holds', async () => {
    const maxBatchBytes = 64 * 1024;
    const capture = await open('udp dst port 7110', { snaplen: 256, maxBatchBytes, batchPool: 2 });
    const seqs: number[] = [];
    const memories = new Set<ArrayBufferLike>();
    const slotStarts = new Set<number>();
    const overlap = (a: Buffer, b: Buffer): boolean =>
      a.buffer === b.buffer &&
      a.byteOffset < b.byteOffset + b.length &&
      b.byteOffset < a.byteOffset + a.length;
    const sharedMemory: number[] = [];
    const kept: PacketBatch[] = [];
    let held: PacketBatch | undefined;
    let batches = 0;
    let pooled = 0;
    let largest = 0;
    capture.on('data', (batch: PacketBatch) => {
      batches++;
      largest = Math.max(largest, batch.data.length);
      // the sequence number traffic.js writes at the start of each UDP payload
      for (const p of packetsOf(batch)) seqs.push(p.data.readUInt32BE(42));
      for (const other of held ? [held, ...kept] : kept) {
        if (other.release && batch.release && overlap(other.data, batch.data)) sharedMemory.push(batches);
      }
      if (batch.release) {
        pooled++;
        memories.add(batch.data.buffer);
        slotStarts.add(batch.data.byteOffset);
      }
      // the previous batch is released (twice) only now; every fifth is kept for good and leaves the pool
      held?.release?.();
      held?.release?.();
      held = undefined;
      if (batches % 5 === 0) kept.push(batch);
      else held = batch;
    });
    await sendUdp(net, net.a, net.b, { port: 7110, count: 3000, size: 200, gapUs: 0 });
    const stats = await capture.stop();
    expect(seqs).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(stats.dropped).toBe(0);
    expect(sharedMemory).toEqual([]);
    expect(largest).toBeLessThanOrEqual(maxBatchBytes + 32 + 256); // a full batch plus the packet that ended it
    expect(pooled).toBeGreaterThan(2); // 3000 × 276-byte blocks need at least 13 batches
    // pooled batches are views of the memory shared with the worker, in its two slots only (while both are held,
    // batches come through the channel, without release())
    expect(memories.size).toBe(1);
    expect(slotStarts.size).toBeLessThanOrEqual(2);
    // what was kept is intact: its packets are still the ones delivered, in order
    const keptSeqs = kept.flatMap((b) => [...packetsOf(b)].map((p) => p.data.readUInt32BE(42)));
    expect(keptSeqs.length).toBeGreaterThan(0);
    expect(keptSeqs).toEqual([...keptSeqs].sort((a, b) => a - b));
    expect(new Set(keptSeqs).size).toBe(keptSeqs.length);
  });

  it('lends batches from its shared slots for as long as its consumer hands them back', async () => {
    const capture = await open('udp dst port 7112', { timeoutMs: 50, batchPool: 2 });
    let packets = 0;
    let lent = 0;
    let throughChannel = 0;
    const slotStarts = new Set<number>();
    capture.on('data', (batch: PacketBatch) => {
      packets += batch.count;
      if (batch.release === undefined) throughChannel++;
      else {
        lent++;
        slotStarts.add(batch.data.byteOffset);
        batch.release();
      }
    });
    // bursts far enough apart that each batch is handed back long before the next: every batch comes from a slot
    for (let burst = 0; burst < 10; burst++) {
      await sendUdp(net, net.a, net.b, { port: 7112, count: 30, gapUs: 0 });
      await delay(150);
    }
    await capture.stop();
    expect(packets).toBe(300);
    expect(lent).toBeGreaterThanOrEqual(10);
    expect(throughChannel).toBeLessThanOrEqual(1);
    expect(slotStarts.size).toBeLessThanOrEqual(2);
  });

  it('sends every batch through its channel when its slots would take more than 256 MiB', async () => {
    // 64 slots of 8 MiB: over the 256 MiB the engine shares with a worker
    const capture = await open('udp dst port 7113', { maxBatchBytes: 8 << 20, batchPool: 64 });
    expect(readFileSync(`/proc/${capture.pid}/maps`, 'utf8')).not.toContain('pcap-capture-batches');
    let packets = 0;
    let lent = 0;
    capture.on('data', (batch: PacketBatch) => {
      packets += batch.count;
      if (batch.release) lent++;
    });
    await sendUdp(net, net.a, net.b, { port: 7113, count: 200, gapUs: 0 });
    const stats = await capture.stop();
    expect(packets).toBe(200);
    expect(stats.dropped).toBe(0);
    expect(lent).toBe(0); // fresh Buffers, as while every slot is held
  });

  it('with onBatch, hands every batch to the callback, which can hold the worker off until resume()', async () => {
    const seqs: number[] = [];
    let calls = 0;
    let holdOff = true;
    const capture = await open('udp dst port 7111', {
      maxBatchBytes: 64 * 1024,
      batchPool: 2,
      onBatch: (batch) => {
        calls++;
        for (const p of packetsOf(batch)) seqs.push(p.data.readUInt32BE(42));
        batch.release?.();
        return !holdOff;
      },
    });
    let dataEvents = 0;
    capture.on('data', () => dataEvents++);
    await sendUdp(net, net.a, net.b, { port: 7111, count: 3000, size: 200, gapUs: 0 });
    await delay(300);
    expect(calls).toBe(1); // the rest waits in the worker's channel
    holdOff = false;
    capture.resume();
    const ended = once(capture, 'end');
    const stats = await capture.stop();
    await ended;
    expect(seqs).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(dataEvents).toBe(0);
    expect(stats.delivered).toBe(3000);
    expect(stats.dropped).toBe(0);
  });

  it('a crashing worker ends its own capture with an error; another capture and this process go on', async () => {
    const victim = await open('udp dst port 7102');
    const survivor = await open('udp dst port 7103');
    const lost = count(victim);
    const kept = count(survivor);
    const failed = once(victim, 'error');
    await sendUdp(net, net.a, net.b, { port: 7102, count: 40, gapUs: 0 });
    await delay(200); // delivered before the crash
    process.kill(victim.pid, 'SIGSEGV');
    const [err] = (await failed) as [Error];
    expect(err).toBeInstanceOf(CaptureFailedError);
    expect(err.message).toMatch(/ended unexpectedly \(signal SIGSEGV\)/);
    expect(lost.packets).toBe(40);

    await sendUdp(net, net.a, net.b, { port: 7103, count: 300, gapUs: 0 });
    const ended = once(survivor, 'end');
    await survivor.stop();
    await ended;
    expect(kept.packets).toBe(300);
    expect([...kept.ports]).toEqual([7103]);
  });

  it('applies backpressure: an unread capture stops reading the kernel, which counts its drops', async () => {
    const capture = await open('udp dst port 7104', { highWaterMark: 2 });
    // nobody reads: the stream holds two batches, the pipe fills, the worker blocks, the kernel ring overflows
    await sendUdp(net, net.a, net.b, { port: 7104, count: 20000, size: 1200, gapUs: 0 });
    await delay(1500); // the worker reports statistics about once a second
    expect(capture.readableLength).toBeLessThanOrEqual(2);
    const got = count(capture);
    const ended = once(capture, 'end');
    const end = await capture.stop();
    await ended;
    expect(end.dropped).toBeGreaterThan(0);
    expect(got.packets).toBe(end.delivered);
    expect(end.delivered + end.dropped).toBe(20000);
  });

  it('holds at most highWaterMark batches, however many small ones wait in the pipe', async () => {
    // immediate mode and paced traffic: one-packet batches; nobody reads, so they pile up in the pipe
    const capture = await open('udp dst port 7106', { highWaterMark: 2, immediate: true });
    await sendUdp(net, net.a, net.b, { port: 7106, count: 600, size: 1200, gapUs: 300 });
    await delay(300);
    expect(capture.readableLength).toBe(2);
    let got = 0;
    let batches = 0;
    for (let i = 0; i < 1500 && got < 600; i++) {
      const batch = capture.read() as PacketBatch | null;
      if (batch === null) {
        await delay(5);
        continue;
      }
      got += batch.count;
      batches++;
      await delay(1);
      expect(capture.readableLength).toBeLessThanOrEqual(2);
    }
    expect(batches).toBeGreaterThan(10);
    const end = await capture.stop();
    expect(got).toBe(600);
    expect(end).toMatchObject({ delivered: 600, dropped: 0 });
  });

  it("when the device disappears, delivers what the kernel held, then fails with libpcap's reason", async () => {
    const capture = await open('udp dst port 7105', { timeoutMs: 300 });
    const got = count(capture);
    const failed = once(capture, 'error');
    await sendUdp(net, net.a, net.b, { port: 7105, count: 25, gapUs: 0 });
    ip('-n', net.a.ns, 'link', 'del', net.a.device);
    const [err] = (await failed) as [Error];
    expect(err).toBeInstanceOf(CaptureFailedError);
    expect(err.message).toMatch(/capture on .* failed: .*(interface disappeared|went down)/i);
    expect(got.packets).toBe(25);
  });

  it('destroy() kills the worker at once', async () => {
    const capture = await open('udp');
    capture.destroy();
    await once(capture, 'close');
    await waitGone(capture.pid);
    expect(alive(capture.pid)).toBe(false);
  });

  it('leaves no descriptor behind, and a worker holds only its own channel and memory', async () => {
    const links = (pid: number | 'self'): string[] =>
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${fd}`);
          } catch {
            return ''; // closed meanwhile (e.g. readdir's own descriptor)
          }
        })
        .filter((link) => link !== '');
    const sockets = (pid: number | 'self'): string[] =>
      links(pid).filter((link) => link.startsWith('socket:'));
    const memfds = (pid: number | 'self'): string[] =>
      links(pid).filter((link) => link.startsWith('/memfd:pcap-capture-batches'));
    const before = sockets('self').length;
    const a = await open('udp dst port 7107');
    const b = await open('udp dst port 7108');
    // the shared slots: mapped by each worker (its descriptor closed once mapped), no descriptor left here
    expect(readFileSync(`/proc/${a.pid}/maps`, 'utf8')).toContain('memfd:pcap-capture-batches');
    expect(memfds(a.pid)).toEqual([]);
    expect(memfds('self')).toEqual([]);
    // stdin, stdout (the channel), stderr and libpcap's packet socket; none inherited from the other capture
    expect(sockets(a.pid)).toHaveLength(4);
    expect(sockets(b.pid)).toHaveLength(4);
    expect(sockets(b.pid).filter((s) => sockets(a.pid).includes(s))).toEqual([]);
    a.resume();
    const ended = once(a, 'end');
    await a.stop();
    await ended;
    b.destroy();
    await once(b, 'close');
    await waitGone(b.pid);
    await delay(100);
    expect(sockets('self').length).toBe(before);
  });

  it('reports a missing device, a dead process and a bad filter as the same typed errors as LiveCapture', async () => {
    await expect(IsolatedCapture.open({ device: 'nosuch0', netns: net.b.netnsPath })).rejects.toThrow(
      DeviceNotFoundError,
    );
    await expect(IsolatedCapture.open({ device: 'eth0', netns: '/proc/2147483646/ns/net' })).rejects.toThrow(
      NamespaceNotFoundError,
    );
    await expect(
      IsolatedCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter: 'udp port' }),
    ).rejects.toThrow(InvalidFilterError);
    await expect(IsolatedCapture.open({ device: 'lo', snaplen: 0 })).rejects.toThrow(
      InvalidCaptureOptionError,
    );
  });
});
