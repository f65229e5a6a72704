/**
 * `capture.isolation`: by default every capture runs in a pcap_capture_worker process of its own (crash tests in
 * captures.e2e-spec.ts); `in-process` runs it inside the agent, with the same stream. Both checked with tshark.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type CellContainer, DiegoCell } from '../../../test/support/diego-cell';
import { tsharkFields } from '../../../test/support/tcpdump';
import { AgentUnderTest, TestCerts } from './agent-harness';

const APP = randomUUID();

/** Capture workers that are children of this process (the agent runs in-process here). */
function workers(): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('pcap_capture_wo')) n++;
    } catch {
      // exited while we looked
    }
  }
  return n;
}

describe.each([
  ['process', 1],
  ['in-process', 0],
] as const)('capture.isolation: %s', (isolation, expectedWorkers) => {
  let cell: DiegoCell;
  let certs: TestCerts;
  let agent: AgentUnderTest;
  let dir: string;
  let c: CellContainer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-isolation-'));
    cell = await DiegoCell.create([{ appId: APP }]);
    c = cell.containers[0]!;
    certs = TestCerts.create();
    agent = await AgentUnderTest.start(certs, {
      cell: { name: 'cell-i', container_store: cell.storeFile, runc_root: cell.runcRoot },
      capture: { isolation },
    });
  }, 60000);
  afterAll(async () => {
    await agent?.close();
    certs?.destroy();
    await cell?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`captures the container's traffic with ${expectedWorkers} worker process per capture`, async () => {
    const session = await agent.connect();
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/captures',
        'content-type': 'application/json',
      });
      stream.end(
        JSON.stringify({ target: { app_guid: APP, instance_guid: c.handle }, filter: 'udp port 7201' }),
      );
      const chunks: Buffer[] = [];
      stream.on('data', (d: Buffer) => chunks.push(d));
      const ended = new Promise<void>((resolve, reject) => stream.once('end', resolve).once('error', reject));
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      expect(workers()).toBe(expectedWorkers);
      await cell.sendUdpTo(c, { port: 7201, count: 15 });
      await new Promise((r) => setTimeout(r, 200));
      stream.close(); // the client going away ends the capture; what was already sent stays valid
      await ended.catch(() => undefined);
      const file = join(dir, `${isolation}.pcapng`);
      writeFileSync(file, wholeBlocks(Buffer.concat(chunks)));
      expect(tsharkFields(file, ['udp.dstport'], 'udp')).toEqual(Array.from({ length: 15 }, () => ['7201']));
    } finally {
      session.close();
    }
  }, 60000);
});

/** The pcapng cut after its last whole block. */
function wholeBlocks(data: Buffer): Buffer {
  let off = 0;
  while (off + 12 <= data.length) {
    const next = off + data.readUInt32LE(off + 4);
    if (next > data.length || next <= off) break;
    off = next;
  }
  return data.subarray(0, off);
}
