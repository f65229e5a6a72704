/**
 * The engine against the real kernel: captures run inside test namespaces from the root namespace, side by side
 * with tcpdump on the same interface, with bounded traffic of known counts.
 */
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

import {
  CaptureFailedError,
  CapturePermissionError,
  DeviceNotFoundError,
  InvalidCaptureOptionError,
  InvalidFilterError,
  LiveCapture,
  NamespaceNotFoundError,
  PcapngWriter,
  compileFilter,
  listDevices,
  packetsOf,
  readPcap,
  type LiveCaptureOptions,
  type PacketBatch,
  type PacketView,
} from '@pcap/capture';
import { fromNativeError } from '../src/engine/native-errors';
import { TcpdumpRun, epochTextToNs, tsharkFields } from '../../../test/support/tcpdump';
import { TestNetwork, ip, sendTcp, sendUdp, startTcpSink } from '../../../test/support/test-network';

interface Collected {
  packets: PacketView[];
  batches: number;
}

function collect(capture: LiveCapture): Collected {
  const out: Collected = { packets: [], batches: 0 };
  capture.on('data', (batch: PacketBatch) => {
    out.batches++;
    for (const p of packetsOf(batch)) out.packets.push({ ...p, data: Buffer.from(p.data) });
  });
  return out;
}

async function stopAndEnd(capture: LiveCapture): Promise<void> {
  const ended = once(capture, 'end');
  if (capture.listenerCount('data') === 0) capture.resume();
  await capture.stop();
  await ended;
}

/** The frames in a batch's EPBs, checking each block's type, length, zeroed padding and trailing length. */
function framesOf(data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const blockLength = data.readUInt32LE(at + 4);
    const capturedLength = data.readUInt32LE(at + 20);
    expect(data.readUInt32LE(at)).toBe(6);
    expect(blockLength).toBe(32 + Math.ceil(capturedLength / 4) * 4);
    expect([...data.subarray(at + 28 + capturedLength, at + blockLength - 4)].every((b) => b === 0)).toBe(
      true,
    );
    expect(data.readUInt32LE(at + blockLength - 4)).toBe(blockLength);
    frames.push(Buffer.from(data.subarray(at + 28, at + 28 + capturedLength)));
    at += blockLength;
  }
  return frames;
}

/** UDP destination port of an Ethernet/IPv4 frame. */
function udpDstPort(frame: Buffer): number {
  const ihl = ((frame[14] ?? 0) & 0x0f) * 4;
  return frame.readUInt16BE(14 + ihl + 2);
}

describe('LiveCapture in a network namespace (real kernel, compared with tcpdump)', () => {
  let net: TestNetwork;
  let dir: string;

  beforeEach(() => {
    net = TestNetwork.create();
    dir = mkdtempSync(join(tmpdir(), 'pcap-engine-'));
  });
  afterEach(() => {
    net.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A capture of the UDP datagrams to `port` on the test veth. */
  const openUdp = (port: number, options: Partial<LiveCaptureOptions> = {}): LiveCapture =>
    LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: `udp dst port ${port}`,
      ...options,
    });

  it('captures exactly the UDP datagrams sent, as tcpdump does, with matching ns timestamps', async () => {
    const filter = 'udp and dst port 7001';
    const tcpdump = await TcpdumpRun.start(net, net.b, join(dir, 'ref.pcap'), filter);
    const capture = LiveCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter });
    const got = collect(capture);
    // the same batches, written as a pcapng file through the writer, as the agent will
    const writer = new PcapngWriter({ userAppl: 'pcap-cf test' });
    const chunks = [writer.writeSectionHeader()];
    const iface = writer.writeInterface({
      linkType: capture.linkType,
      snaplen: capture.snaplen,
      name: net.b.device,
      description: 'test instance',
    });
    chunks.push(iface.block);
    capture.on('data', (batch: PacketBatch) => chunks.push(writer.writeBatch(iface.interfaceId, batch)));

    await sendUdp(net, net.a, net.b, { port: 7001, count: 300, size: 64, gapUs: 300 });
    await delay(200);
    await stopAndEnd(capture);
    await tcpdump.stop();
    const end = capture.stats();
    chunks.push(
      writer.writeStatistics(iface.interfaceId, {
        timestampNs: capture.startedAtNs,
        ifRecv: end.received,
        ifDrop: end.dropped,
        osDrop: 0,
      }),
    );
    const ours = join(dir, 'ours.pcapng');
    writeFileSync(ours, Buffer.concat(chunks));

    const stats = capture.stats();
    expect(got.packets).toHaveLength(300);
    expect(stats.delivered).toBe(300);
    expect(stats.dropped).toBe(0);
    expect(stats.received).toBeGreaterThanOrEqual(300);
    expect(capture.linkType).toBe(1);
    expect(capture.precision).toBe('nano');
    // batches, not a callback per packet
    expect(got.batches).toBeLessThanOrEqual(300);
    for (const p of got.packets) {
      expect(p.capturedLength).toBe(14 + 20 + 8 + 64);
      expect(p.originalLength).toBe(p.capturedLength);
      expect(udpDstPort(p.data)).toBe(7001);
    }
    // the sequence numbers the generator wrote, in order
    expect(got.packets.map((p) => p.data.readUInt32BE(42))).toEqual([...Array(300).keys()]);

    const ref = tsharkFields(tcpdump.file, ['frame.time_epoch', 'frame.len']);
    expect(ref).toHaveLength(300);
    const worstUs = ref.reduce((worst, [epoch], i) => {
      const ours = got.packets[i]?.timestampNs ?? 0n;
      const diff = Number(ours - epochTextToNs(epoch ?? '0'));
      return Math.max(worst, Math.abs(diff) / 1000);
    }, 0);
    expect(worstUs).toBeLessThan(5);

    // tshark reads our file with the same packets and the exact nanosecond timestamps we captured
    const fromFile = tsharkFields(ours, [
      'frame.time_epoch',
      'frame.len',
      'frame.interface_name',
      'udp.dstport',
    ]);
    expect(fromFile).toHaveLength(300);
    fromFile.forEach(([epoch, len, name, port], i) => {
      expect(epochTextToNs(epoch ?? '0')).toBe(got.packets[i]?.timestampNs);
      expect(Number(len)).toBe(106);
      expect(name).toBe(net.b.device);
      expect(port).toBe('7001');
    });
  });

  it('captures a TCP transfer packet for packet like tcpdump', async () => {
    const filter = 'tcp port 7002';
    await startTcpSink(net, net.b, 7002);
    const tcpdump = await TcpdumpRun.start(net, net.b, join(dir, 'tcp.pcap'), filter);
    const capture = LiveCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter });
    const got = collect(capture);

    await sendTcp(net, net.a, net.b, 7002, 200_000);
    await delay(300);
    await stopAndEnd(capture);
    await tcpdump.stop();

    const ref = tsharkFields(tcpdump.file, ['frame.time_epoch', 'frame.len']);
    expect(ref.length).toBeGreaterThan(10);
    expect(got.packets).toHaveLength(ref.length);
    const payloadBytes = got.packets.reduce(
      (sum, p) => sum + p.originalLength - 14 - 20 - ((p.data[46] ?? 0) >> 4) * 4,
      0,
    );
    expect(payloadBytes).toBe(200_000);
    const diffsUs = ref.map(([epoch, len], i) => {
      const ours = got.packets[i];
      expect(ours?.originalLength).toBe(Number(len));
      return Math.abs(Number((ours?.timestampNs ?? 0n) - epochTextToNs(epoch ?? '0'))) / 1000;
    });
    // Most segments carry the one timestamp the kernel set on arrival; on some paths each packet socket stamps
    // its copy as it is handed over, so a few differ by some µs more.
    diffsUs.sort((x, y) => x - y);
    expect(diffsUs[Math.floor(diffsUs.length / 2)]).toBeLessThan(5);
    expect(diffsUs[diffsUs.length - 1]).toBeLessThan(100);
  });

  it('applies the BPF filter and truncates to snaplen while keeping the original length', async () => {
    const capture = LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: 'udp dst port 7003',
      snaplen: 100,
    });
    const got = collect(capture);
    await sendUdp(net, net.a, net.b, { port: 7004, count: 40, size: 500 });
    await sendUdp(net, net.a, net.b, { port: 7003, count: 25, size: 500 });
    await delay(200);
    await stopAndEnd(capture);

    expect(got.packets).toHaveLength(25);
    for (const p of got.packets) {
      expect(p.capturedLength).toBe(100);
      expect(p.data).toHaveLength(100);
      expect(p.originalLength).toBe(14 + 20 + 8 + 500);
      expect(udpDstPort(p.data)).toBe(7003);
    }
    expect(capture.snaplen).toBe(100);
  });

  it('writes each frame byte for byte as tcpdump saw it, whatever its length, with zeroed padding', async () => {
    const filter = 'udp dst port 7013';
    const tcpdump = await TcpdumpRun.start(net, net.b, join(dir, 'ref.pcap'), filter);
    const whole = openUdp(7013);
    const cut = openUdp(7013, { snaplen: 47 });
    // written into pool buffers with streaming stores rather than into the engine's own block
    const pooled = openUdp(7013, { batchPool: 2 });
    const frames = { whole: [] as Buffer[], cut: [] as Buffer[], pooled: [] as Buffer[] };
    whole.on('data', (batch: PacketBatch) => frames.whole.push(...framesOf(batch.data)));
    cut.on('data', (batch: PacketBatch) => frames.cut.push(...framesOf(batch.data)));
    pooled.on('data', (batch: PacketBatch) => {
      expect(batch.release).toBeDefined();
      frames.pooled.push(...framesOf(batch.data));
      batch.release?.();
    });
    // frames of 46..61 bytes: every length modulo 8, so every way the copy can start and end
    for (let size = 4; size < 20; size++) await sendUdp(net, net.a, net.b, { port: 7013, count: 2, size });
    await delay(200);
    await Promise.all([stopAndEnd(whole), stopAndEnd(cut), stopAndEnd(pooled)]);
    await tcpdump.stop();

    const ref: Buffer[] = [];
    for await (const e of readPcap([readFileSync(tcpdump.file)])) if (e.type === 'packet') ref.push(e.data);
    expect(ref).toHaveLength(32);
    expect(new Set(ref.map((f) => f.length)).size).toBe(16);
    expect(frames.whole).toEqual(ref);
    expect(frames.pooled).toEqual(ref);
    expect(frames.cut).toEqual(ref.map((f) => f.subarray(0, 47)));
  });

  it('never moves a Node thread out of its own namespace', async () => {
    const nsOfAllThreads = (): string[] =>
      readdirSync('/proc/self/task').flatMap((tid) => {
        try {
          return [readlinkSync(`/proc/self/task/${tid}/ns/net`)];
        } catch {
          return []; // the thread exited meanwhile
        }
      });
    // The native thread that entered the namespace is joined before open() returns, but the kernel lists it in
    // /proc/self/task until it has fully exited: give it a moment, then no thread may be elsewhere.
    const settledThreads = async (): Promise<Set<string>> => {
      for (let i = 0; i < 50; i++) {
        const set = new Set(nsOfAllThreads());
        if (set.size === 1) return set;
        await delay(10);
      }
      return new Set(nsOfAllThreads());
    };
    const own = readlinkSync('/proc/self/ns/net');
    // /run/netns/<name> is a bind mount of the namespace file: its inode is the namespace's id
    const target = `net:[${statSync(net.b.netnsPath).ino}]`;
    expect(target).not.toBe(own);
    expect(new Set(nsOfAllThreads())).toEqual(new Set([own]));

    const captures = [0, 1, 2].map(() => LiveCapture.open({ device: net.b.device, netns: net.b.netnsPath }));
    expect(listDevices({ netns: net.a.netnsPath }).map((d) => d.name)).toContain(net.a.device);
    // the JavaScript thread itself, right after the calls
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(own);
    expect(readlinkSync('/proc/self/ns/net')).toBe(own);
    expect(await settledThreads()).toEqual(new Set([own]));
    // and the captures really are in the other namespace: they see its traffic
    const got = collect(captures[0] as LiveCapture);
    await sendUdp(net, net.a, net.b, { port: 7005, count: 10 });
    await delay(200);
    for (const c of captures) await stopAndEnd(c);
    expect(got.packets.filter((p) => p.data.length > 42 && udpDstPort(p.data) === 7005)).toHaveLength(10);
  });

  it('lists the devices of a namespace, not the host', () => {
    const devices = listDevices({ netns: net.b.netnsPath });
    expect(devices.map((d) => d.name).sort()).toEqual([net.b.device, 'lo'].sort());
    const veth = devices.find((d) => d.name === net.b.device);
    expect(veth?.up).toBe(true);
    expect(veth?.addresses).toContainEqual({ family: 'inet', address: net.b.ip, netmask: '255.255.255.0' });
    expect(devices.find((d) => d.name === 'lo')?.loopback).toBe(true);
  });

  it('stops reading the kernel when the consumer applies backpressure, and counts what the kernel drops', async () => {
    const capture = LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: 'udp dst port 7006',
      highWaterMark: 2,
      bufferSize: 256 * 1024,
    });
    // no consumer: the stream stays paused once two batches are buffered
    await sendUdp(net, net.a, net.b, { port: 7006, count: 4000, size: 200, gapUs: 0 });
    await delay(300);
    const held = capture.stats();
    expect(held.batches).toBeLessThanOrEqual(3);
    expect(held.dropped).toBeGreaterThan(0);
    const got = collect(capture); // now consume everything
    await delay(300);
    await stopAndEnd(capture);
    const end = capture.stats();
    // every packet the generator sent was either delivered or counted as dropped by the kernel
    expect(got.packets.length).toBe(end.delivered);
    expect(end.delivered + end.dropped).toBe(4000);
    expect(end.delivered).toBeLessThan(4000);
  });

  describe('with a batch pool', () => {
    /** The sequence number traffic.js writes at the start of each UDP payload (Ethernet + IPv4 + UDP = 42). */
    const seqOf = (p: PacketView): number => p.data.readUInt32BE(42);
    const snaplen = 256;
    const maxBatchBytes = 64 * 1024;
    const largestBatch = maxBatchBytes + 32 + snaplen; // a full batch plus the packet that ended it

    it('writes batches into the released buffers, each packet once and in order, no batch over its bound', async () => {
      const capture = openUdp(7011, { snaplen, maxBatchBytes, batchPool: 2 });
      const seqs: number[] = [];
      const memories = new Set<ArrayBufferLike>();
      let pooled = 0;
      let largest = 0;
      capture.on('data', (batch: PacketBatch) => {
        largest = Math.max(largest, batch.data.length);
        for (const p of packetsOf(batch)) seqs.push(seqOf(p));
        if (batch.release) {
          pooled++;
          memories.add(batch.data.buffer);
          batch.release();
        }
      });
      // 3000 datagrams in a burst fill whole 256 KiB kernel blocks, each several batches' worth
      await sendUdp(net, net.a, net.b, { port: 7011, count: 3000, size: 200, gapUs: 0 });
      await stopAndEnd(capture);
      expect(seqs).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      expect(largest).toBeLessThanOrEqual(largestBatch);
      expect(pooled).toBeGreaterThan(4); // 3000 × 276-byte blocks need at least 13 batches
      expect(memories.size).toBeLessThanOrEqual(2); // every pooled batch was written into one of the two buffers
      expect(capture.stats().dropped).toBe(0);
    });

    it('never writes into a batch its consumer still holds, even when release() is called twice', async () => {
      const capture = openUdp(7012, { snaplen, maxBatchBytes, batchPool: 2 });
      const kept: PacketBatch[] = [];
      const sharedMemory: number[] = [];
      let held: PacketBatch | undefined;
      let batches = 0;
      capture.on('data', (batch: PacketBatch) => {
        batches++;
        // a pooled batch never shares memory with the one still held, nor with one kept for good
        for (const other of held ? [held, ...kept] : kept) {
          if (other.release && batch.release && other.data.buffer === batch.data.buffer)
            sharedMemory.push(batches);
        }
        // the previous batch is released (twice) only now, while the engine has already built this one
        if (held) {
          held.release?.();
          held.release?.();
          held = undefined;
        }
        // every third batch is kept for good: its buffer leaves the pool and its packets must stay intact
        if (batches % 3 === 0) kept.push(batch);
        else held = batch;
      });
      await sendUdp(net, net.a, net.b, { port: 7012, count: 3000, size: 200, gapUs: 0 });
      await stopAndEnd(capture);
      expect(sharedMemory).toEqual([]);
      const keptSeqs = kept.flatMap((b) => [...packetsOf(b)].map(seqOf));
      // what was kept still holds increasing sequence numbers, as delivered (nothing overwrote it)
      expect(keptSeqs.length).toBeGreaterThan(0);
      expect(keptSeqs).toEqual([...keptSeqs].sort((a, b) => a - b));
      expect(new Set(keptSeqs).size).toBe(keptSeqs.length);
      expect(capture.stats().delivered).toBe(3000);
    });
  });

  describe('with onBatch', () => {
    const seqOf = (p: PacketView): number => p.data.readUInt32BE(42);

    it('hands every batch to the callback instead of data events, and still ends after stop()', async () => {
      const seqs: number[] = [];
      let pooled = 0;
      const capture = openUdp(7014, {
        batchPool: 2,
        onBatch: (batch) => {
          for (const p of packetsOf(batch)) seqs.push(seqOf(p));
          if (batch.release) pooled++;
          batch.release?.();
        },
      });
      let dataEvents = 0;
      capture.on('data', () => dataEvents++);
      await sendUdp(net, net.a, net.b, { port: 7014, count: 3000, size: 200, gapUs: 0 });
      const ended = once(capture, 'end');
      const stats = await capture.stop();
      await ended;
      expect(seqs).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      expect(dataEvents).toBe(0);
      expect(pooled).toBeGreaterThan(0);
      expect(stats.delivered).toBe(3000);
    });

    it('stops reading the kernel while the callback has returned false, until resume()', async () => {
      let delivered = 0;
      let calls = 0;
      let holdOff = true;
      const capture = openUdp(7015, {
        bufferSize: 256 * 1024,
        maxBatchBytes: 64 * 1024,
        onBatch: (batch) => {
          calls++;
          delivered += batch.count;
          return !holdOff;
        },
      });
      // 4000 × 276-byte blocks: over 1 MiB, four times the kernel ring
      await sendUdp(net, net.a, net.b, { port: 7015, count: 4000, size: 200, gapUs: 0 });
      await delay(300);
      expect(calls).toBe(1); // nothing after the batch that said stop
      expect(capture.stats().dropped).toBeGreaterThan(0);
      holdOff = false;
      capture.resume();
      await delay(300);
      expect(calls).toBeGreaterThan(1);
      const ended = once(capture, 'end');
      const end = await capture.stop();
      await ended;
      expect(end.delivered).toBe(delivered);
      expect(end.delivered + end.dropped).toBe(4000);
    });
  });

  describe('in buffered mode under load', () => {
    it('gathers several full kernel blocks into one batch, up to maxBatchBytes', async () => {
      // a long block timeout: every block reaches us full (256 KiB, ~900 of these packets)
      const capture = openUdp(7013, { timeoutMs: 1000 });
      const got = collect(capture);
      await sendUdp(net, net.a, net.b, { port: 7013, count: 20000, size: 200, gapUs: 0 });
      await stopAndEnd(capture);
      expect(got.packets.map((p) => p.data.readUInt32BE(42))).toEqual(
        Array.from({ length: 20000 }, (_, i) => i),
      );
      // 20000 × 276-byte blocks = 5.3 MiB: 6 batches of up to 1 MiB, where one per kernel block would be 22
      expect(capture.stats().batches).toBeLessThanOrEqual(10);
    });

    it('paces its reads under a steady load when the ring holds many blocks, and loses nothing', async () => {
      // The same datagrams into libpcap's default 2 MiB ring, read at every full kernel block, and into an 8 MiB
      // one, read once an eighth of it would have filled (ReadPacer), at the same time.
      const perBlock = openUdp(7015);
      const paced = openUdp(7015, { bufferSize: 8 << 20 });
      const gotPerBlock = collect(perBlock);
      const gotPaced = collect(paced);
      // ~25k packets/s for ~1.2 s: a steady load, well within what a 2 MiB ring holds between two reads
      await sendUdp(net, net.a, net.b, { port: 7015, count: 30000, size: 1200, gapUs: 30 });
      await Promise.all([stopAndEnd(perBlock), stopAndEnd(paced)]);
      const sent = Array.from({ length: 30000 }, (_, i) => i);
      expect(gotPaced.packets.map((p) => p.data.readUInt32BE(42))).toEqual(sent);
      expect(paced.stats().dropped).toBe(0);
      // (the 2 MiB ring is the reference for the reads only: it holds ~65 ms of this load, and a busy test
      // process has lost packets from it once, where the paced 8 MiB ring lost none)
      expect(gotPerBlock.packets.length).toBeGreaterThan(0);
      // 30000 packets of 1242 bytes take ~37 MiB of ring, ~150 blocks of 256 KiB: ~130 reads at every block
      // against ~40 paced ones (measured)
      const { reads } = paced.stats();
      expect(reads).toBeGreaterThan(0);
      expect(reads * 2).toBeLessThan(perBlock.stats().reads);
    });

    it('hands over a batch it holds within the block timeout when the traffic stops', async () => {
      const capture = openUdp(7014, { timeoutMs: 200 });
      const got = collect(capture);
      // one full kernel block and most of another: both are read as large reads, so the batch is held for more
      await sendUdp(net, net.a, net.b, { port: 7014, count: 1500, size: 200, gapUs: 0 });
      for (let waited = 0; got.packets.length < 1500 && waited < 3000; waited += 50) await delay(50);
      expect(got.packets).toHaveLength(1500); // without stop(): the held batch went out on its own
      await stopAndEnd(capture);
    });
  });

  it('in immediate mode, hands over each packet as it arrives', async () => {
    const capture = LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: 'udp dst port 7009',
      immediate: true,
    });
    const got = collect(capture);
    await sendUdp(net, net.a, net.b, { port: 7009, count: 20, gapUs: 20_000 });
    await delay(100);
    await stopAndEnd(capture);
    expect(got.packets).toHaveLength(20);
    // 20 ms apart, each packet is its own batch (buffered mode would group them per 50 ms block)
    expect(got.batches).toBeGreaterThanOrEqual(18);
  });

  it('can be destroyed from inside a batch handler', async () => {
    const capture = LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: 'udp dst port 7007',
    });
    let calls = 0;
    capture.on('data', () => {
      calls++;
      capture.destroy();
    });
    const closed = once(capture, 'close');
    await sendUdp(net, net.a, net.b, { port: 7007, count: 50, gapUs: 0 });
    await closed;
    await sendUdp(net, net.a, net.b, { port: 7007, count: 10 });
    await delay(100);
    expect(calls).toBe(1);
    expect(capture.stats().delivered).toBeGreaterThanOrEqual(1);
  });

  it('in buffered mode, a graceful stop still delivers what the kernel holds', async () => {
    const capture = LiveCapture.open({
      device: net.b.device,
      netns: net.b.netnsPath,
      filter: 'udp dst port 7008',
      immediate: false,
      timeoutMs: 500,
    });
    const got = collect(capture);
    await sendUdp(net, net.a, net.b, { port: 7008, count: 77, gapUs: 0 });
    await stopAndEnd(capture);
    expect(got.packets).toHaveLength(77);
  });

  it.each([
    ['buffered', false],
    ['immediate', true],
  ])(
    'in %s mode, delivers what the kernel held, then ends with a CaptureFailedError when the device disappears',
    async (_mode, immediate) => {
      const capture = LiveCapture.open({
        device: net.b.device,
        netns: net.b.netnsPath,
        filter: 'udp dst port 7010',
        immediate,
        timeoutMs: 500,
      });
      const got = collect(capture);
      const failed = once(capture, 'error');
      await sendUdp(net, net.a, net.b, { port: 7010, count: 30, gapUs: 0 });
      // removing the peer destroys the veth pair, as when a container's interface is deleted; the capture's own
      // socket keeps its namespace alive, so deleting that namespace alone would not remove the device
      ip('-n', net.a.ns, 'link', 'del', net.a.device);
      const [err] = (await failed) as [Error];
      expect(err).toBeInstanceOf(CaptureFailedError);
      expect(err.message).toMatch(/capture on .* failed: The interface disappeared|went down/);
      expect(got.packets).toHaveLength(30);
    },
  );

  it('reports a missing device, a dead process and a bad filter as typed errors', () => {
    expect(() => LiveCapture.open({ device: 'nosuch0', netns: net.b.netnsPath })).toThrow(
      DeviceNotFoundError,
    );
    expect(() => LiveCapture.open({ device: 'eth0', netns: '/proc/2147483646/ns/net' })).toThrow(
      NamespaceNotFoundError,
    );
    expect(() => LiveCapture.open({ device: 'lo', netns: '/proc/2147483646/ns/net' })).toThrow(
      /has the process exited/,
    );
    expect(() =>
      LiveCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter: 'udp port' }),
    ).toThrow(InvalidFilterError);
    expect(() => LiveCapture.open({ device: 'lo', netns: '/etc/hostname' })).toThrow(
      /not a network namespace/,
    );
    expect(() => LiveCapture.open({ device: 'lo', snaplen: 0 })).toThrow(InvalidCaptureOptionError);
  });
});

describe('compileFilter', () => {
  it('accepts valid filters and returns libpcap error text for bad ones', () => {
    expect(() => compileFilter('tcp port 8080 and not host 10.0.0.1')).not.toThrow();
    expect(() => compileFilter('tcp port')).toThrow(
      "invalid filter 'tcp port': can't parse filter expression: syntax error",
    );
    expect(() => compileFilter('host 999.1.1.1')).toThrow(/invalid filter/);
    expect(() => compileFilter('port 80\n')).toThrow(/printable ASCII/);
    expect(() => compileFilter('x'.repeat(5001))).toThrow(/at most 5000/);
  });
});

describe('without the privileges to capture', () => {
  it('reports a permission error, not a crash', () => {
    // An unprivileged user (nobody) loads the addon and tries to open a capture.
    const addon = require.resolve('../native/build/Release/pcap_capture.node');
    const script = `
      const n = require(${JSON.stringify(addon)});
      try { new n.LiveCapture({ device: 'lo' }); console.log('OPENED'); }
      catch (e) { console.log(e.code + ' ' + e.message); }`;
    const out = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script],
      { encoding: 'utf8' },
    ).trim();
    expect(out).toMatch(/^PERMISSION_DENIED cannot capture on lo: .*(permission|Operation not permitted)/i);
    expect(fromNativeError(Object.assign(new Error(out), { code: 'PERMISSION_DENIED' }))).toBeInstanceOf(
      CapturePermissionError,
    );
  });
});
