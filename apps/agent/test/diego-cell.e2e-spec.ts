import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LiveCapture, packetsOf, type PacketBatch } from '@pcap/capture';

import { DiegoCell } from '../../../test/support/diego-cell';
import { tsharkFields } from '../../../test/support/tcpdump';
import { AgentConfig } from '../src/config/agent-config';
import { ContainerStore } from '../src/target/container-store';
import { RuncClient } from '../src/target/runc.client';
import { TargetResolver } from '../src/target/target-resolver.service';
import { ContainerOwnershipError } from '../src/target/target.errors';

const APP_1 = randomUUID();
const APP_2 = randomUUID();

/** Collects a capture's packets until stopped; returns the UDP destination ports seen (Ethernet/IPv4/UDP). */
async function capture(
  netns: string,
  device: string,
  filter: string,
  traffic: () => Promise<void>,
): Promise<Buffer[]> {
  const live = LiveCapture.open({ device, netns, filter, immediate: true });
  const batches: PacketBatch[] = [];
  live.on('data', (b: PacketBatch) => batches.push(b));
  const ended = new Promise<void>((resolve, reject) => live.once('end', resolve).once('error', reject));
  await traffic();
  await live.stop();
  await ended;
  return batches.flatMap((b) => [...packetsOf(b)].map((p) => Buffer.from(p.data)));
}

describe('simulated Diego cell (real runc containers)', () => {
  let cell: DiegoCell;
  let resolver: TargetResolver;
  let dir: string;

  beforeAll(async () => {
    cell = await DiegoCell.create([{ appId: APP_1 }, { appId: APP_2 }]);
    const config = AgentConfig.fromObject({
      tls: { certificate: 'c', private_key: 'k', client_ca: 'ca' },
      cell: { container_store: cell.storeFile, runc_root: cell.runcRoot },
    });
    resolver = new TargetResolver(new ContainerStore(config), new RuncClient(config));
    dir = mkdtempSync(join(tmpdir(), 'diego-cell-e2e-'));
  }, 60000);
  afterAll(async () => {
    await cell?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs two containers of two apps, each in its own namespace', async () => {
    const [c1, c2] = cell.containers;
    const s1 = await cell.state(c1!.handle);
    const s2 = await cell.state(c2!.handle);
    expect(s1.status).toBe('running');
    expect(s2.status).toBe('running');
    expect(await readlink(`/proc/${s1.pid}/ns/net`)).not.toBe(await readlink(`/proc/${s2.pid}/ns/net`));
    // The container's httpd answers on its overlay IP through the veth pair.
    const body = await cell.execInCell('busybox', ['wget', '-q', '-O', '-', `http://${c1!.ip}:8080/`]);
    expect(body).toBe('hello from the simulated cell\n');
  });

  it("resolves each container's pid and namespace by guid and by IP", async () => {
    for (const c of cell.containers) {
      const { pid } = await cell.state(c.handle);
      const byGuid = await resolver.resolve({ kind: 'instance', appGuid: c.appId, instanceGuid: c.handle });
      expect(byGuid.netns).toBe(`/proc/${pid}/ns/net`);
      expect(byGuid.container).toMatchObject({ handle: c.handle, pid, ip: c.ip, appId: c.appId });
      const byIp = await resolver.resolve({ kind: 'instance', appGuid: c.appId, instanceIp: c.ip });
      expect(byIp.netns).toBe(`/proc/${pid}/ns/net`);
      // /run/netns/<name> is a bind mount of the nsfs inode the process lives in.
      expect(statSync(byIp.netns!).ino).toBe(statSync(`/run/netns/${c.ns}`).ino);
    }
  });

  it('refuses a request naming the wrong app', async () => {
    const [c1] = cell.containers;
    await expect(
      resolver.resolve({ kind: 'instance', appGuid: APP_2, instanceGuid: c1!.handle }),
    ).rejects.toThrow(ContainerOwnershipError);
  });

  it("captures container 1's eth0 traffic in its namespace and not container 2's", async () => {
    const [c1, c2] = cell.containers;
    const t1 = await resolver.resolve({ kind: 'instance', appGuid: APP_1, instanceGuid: c1!.handle });
    const t2 = await resolver.resolve({ kind: 'instance', appGuid: APP_2, instanceGuid: c2!.handle });
    const live2 = LiveCapture.open({ device: 'eth0', netns: t2.netns, filter: 'udp', immediate: true });
    const seen2: PacketBatch[] = [];
    live2.on('data', (b: PacketBatch) => seen2.push(b));
    const packets = await capture(t1.netns!, 'eth0', 'udp', async () => {
      await cell.sendUdpTo(c1!, { port: 7001, count: 20, size: 100 });
      await cell.sendUdpTo(c2!, { port: 7002, count: 7, size: 100 });
    });
    await live2.stop();
    const file = join(dir, 'c1.pcapng');
    writeFileSync(file, toPcapng(packets));
    const rows = tsharkFields(file, ['ip.src', 'ip.dst', 'udp.dstport'], 'udp');
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r.join(' ')))).toEqual(new Set([`${c1!.cellIp} ${c1!.ip} 7001`]));
    const other = seen2.flatMap((b) => [...packetsOf(b)]);
    expect(other).toHaveLength(7);
    expect(other.every((p) => p.data.readUInt16BE(14 + 20 + 2) === 7002)).toBe(true);
  });

  it("captures lo inside a container, which the cell's veth never sees", async () => {
    const [c1] = cell.containers;
    const t1 = await resolver.resolve({ kind: 'instance', appGuid: APP_1, instanceIp: c1!.ip });
    const onVeth = LiveCapture.open({
      device: c1!.cellDevice,
      netns: `/run/netns/${cell.cellNs}`,
      filter: 'udp',
      immediate: true,
    });
    let vethCount = 0;
    onVeth.on('data', (b: PacketBatch) => (vethCount += b.count));
    const packets = await capture(t1.netns!, 'lo', 'udp port 7003', () =>
      cell.sendUdpToLoopback(c1!, { port: 7003, count: 15 }),
    );
    await onVeth.stop();
    // DLT_EN10MB on lo: a zero MAC header, then IPv4 127.0.0.1 → 127.0.0.1.
    expect(packets).toHaveLength(15);
    expect(packets.every((p) => p.readUInt32BE(14 + 16) === 0x7f000001 && p.readUInt16BE(36) === 7003)).toBe(
      true,
    );
    expect(vethCount).toBe(0);
  });
});

/** A minimal pcapng (SHB, Ethernet IDB with ns resolution, EPBs) so tshark can check the packets. */
function toPcapng(packets: Buffer[]): Buffer {
  const shb = Buffer.alloc(28);
  shb.writeUInt32LE(0x0a0d0d0a, 0);
  shb.writeUInt32LE(28, 4);
  shb.writeUInt32LE(0x1a2b3c4d, 8);
  shb.writeUInt16LE(1, 12);
  shb.writeBigInt64LE(-1n, 16);
  shb.writeUInt32LE(28, 24);
  const idb = Buffer.alloc(32);
  idb.writeUInt32LE(1, 0);
  idb.writeUInt32LE(32, 4);
  idb.writeUInt16LE(1, 8);
  idb.writeUInt32LE(262144, 12);
  idb.writeUInt16LE(9, 16);
  idb.writeUInt16LE(1, 18);
  idb.writeUInt8(9, 20);
  idb.writeUInt32LE(32, 28);
  const epbs = packets.map((p) => {
    const padded = Math.ceil(p.length / 4) * 4;
    const b = Buffer.alloc(32 + padded);
    b.writeUInt32LE(6, 0);
    b.writeUInt32LE(b.length, 4);
    b.writeUInt32LE(p.length, 20);
    b.writeUInt32LE(p.length, 24);
    p.copy(b, 28);
    b.writeUInt32LE(b.length, b.length - 4);
    return b;
  });
  return Buffer.concat([shb, idb, ...epbs]);
}
