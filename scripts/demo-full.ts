/**
 * The quickstart's main job: the real capture path, locally, on embedded defaults.
 * Builds a small Cloud Foundry world on this machine: two simulated Diego cells with app `demo-app` running three
 * instances in real runc containers (each in its own network namespace), a real pcap-agent per cell as a child
 * process (HTTP/2 + mTLS on 127.0.0.2 / 127.0.0.3), the UAA and Cloud Controller doubles, and the real pcap-api as a
 * child process. Then, as a space developer with a token minted by the UAA double, asks the API for a capture of
 * all instances, sends bounded UDP datagrams and HTTP requests into the containers, writes the merged pcapng the API
 * streams back (one interface per instance) and lets capinfos / tshark summarise it. Removes everything it created
 * (containers, namespaces, processes by PID, temp dirs), also on failure and on SIGINT.
 *
 * Usage (as root): npm start [-- --out FILE] [--udp N] [--http N] [--duration S]
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';

import { describeControlMessage, readPcapng, type ControlMessage } from '@pcap/capture';

import {
  AgentProcess,
  apiConfigObject,
  ApiProcess,
  ApiTestCerts,
  baseModel,
  type CfWorld,
  open,
  SPACE_DEV,
  startCfWorld,
  USERS,
} from '../test/support/api-harness';
import { type CellContainer, DiegoCell } from '../test/support/diego-cell';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000d001', name: 'demo-app' };
const CELLS = [
  { name: 'cell-a', host: '127.0.0.2', instances: 1 },
  { name: 'cell-b', host: '127.0.0.3', instances: 2 },
] as const;

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const log = (line: string): void => console.log(`demo: ${line}`);

/** Everything the demo created, torn down in reverse order by `cleanup()` (idempotent). */
const created: {
  dir?: string;
  certs?: ApiTestCerts;
  cells: DiegoCell[];
  agents: AgentProcess[];
  world?: CfWorld;
  api?: ApiProcess;
} = { cells: [], agents: [] };
let cleaning: Promise<void> | undefined;
let interrupted = false;
/** Called on SIGINT to end what is waiting (the capture's response). */
const onInterrupt: Array<() => void> = [];

/** Between steps: stop early after SIGINT (what is in flight is finished first, so that it is known and removed). */
function check(): void {
  if (interrupted) throw new Error('interrupted');
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await created.api?.stop(5000);
    await Promise.all(created.agents.map((a) => a.stop().catch(() => undefined)));
    for (const cell of created.cells) await cell.destroy().catch(() => undefined);
    await created.world?.stop().catch(() => undefined);
    created.certs?.destroy();
    if (created.dir) rmSync(created.dir, { recursive: true, force: true });
    killStrayChildren();
  })();
  return cleaning;
}

/** Last resort: SIGKILL, by PID, any direct child still alive (e.g. an agent whose start was interrupted). */
function killStrayChildren(): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the demo creates containers and network namespaces and captures packets: run it as root',
    );
  }
  const out = resolve(arg('--out', 'demo.pcapng'));
  const udpCount = Number(arg('--udp', '50'));
  const httpCount = Number(arg('--http', '3'));
  const duration = Number(arg('--duration', '5'));
  const started = Date.now();

  created.dir = mkdtempSync(join(tmpdir(), 'pcap-demo-'));
  created.certs = ApiTestCerts.create();
  const certs = created.certs;

  // Cells with their containers, and one agent per cell.
  const cellOf = new Map<CellContainer, DiegoCell>();
  const hostOf = new Map<CellContainer, string>();
  const instances: CellContainer[] = [];
  for (const spec of CELLS) {
    const cell = await DiegoCell.create(Array.from({ length: spec.instances }, () => ({ appId: APP.guid })));
    created.cells.push(cell);
    check();
    for (const c of cell.containers) {
      cellOf.set(c, cell);
      hostOf.set(c, spec.host);
      instances.push(c);
    }
    log(
      `${spec.name}: netns ${cell.cellNs}, runc root ${cell.runcRoot}, containers ${cell.containers
        .map((c) => `${c.handle} (${c.ip}, netns ${c.ns})`)
        .join(', ')}`,
    );
  }
  const agents = await Promise.all(
    CELLS.map((spec, i) =>
      AgentProcess.start(certs, {
        host: spec.host,
        cellName: spec.name,
        storeFile: created.cells[i]!.storeFile,
        runcRoot: created.cells[i]!.runcRoot,
      }).then((agent) => {
        created.agents.push(agent);
        return agent;
      }),
    ),
  );
  check();
  log(
    `agents (mTLS): ${agents.map((a, i) => `${CELLS[i]!.name} pid ${a.child.pid} on ${a.endpoint}`).join(', ')}`,
  );

  // UAA and Cloud Controller doubles: org acme, space dev, demo-app with the instances above.
  created.world = await startCfWorld(
    baseModel([
      {
        ...APP,
        spaceGuid: SPACE_DEV.guid,
        processes: [
          {
            type: 'web',
            instances: instances.map((c) => ({
              state: 'RUNNING' as const,
              host: hostOf.get(c)!,
              instanceGuid: c.handle,
              internalIp: c.ip,
            })),
          },
        ],
      },
    ]),
  );
  const world = created.world;
  check();
  log(`UAA double ${world.uaa.url}, Cloud Controller double ${world.cc.url}`);

  const endpoints = Object.fromEntries(agents.map((a) => [a.host, a.endpoint]));
  created.api = await ApiProcess.start(apiConfigObject(world, certs, { agents: { endpoints } }));
  check();
  const apiUrl = created.api.url;
  log(
    `pcap-api pid ${created.api.pid} on ${apiUrl} (ready after ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );

  // The capture: all instances of demo-app, as space developer "dev".
  const token = world.uaa.mintUserToken(USERS.developer);
  const body = { app_guid: APP.guid, filter: 'udp or tcp port 8080', duration_seconds: duration };
  log(
    `POST ${apiUrl}/captures ${JSON.stringify(body)} as user ${USERS.developer.userName} (space developer)`,
  );
  const res = await open(`${apiUrl}/captures`, {
    method: 'POST',
    headers: { authorization: `bearer ${token}`, 'x-vcap-request-id': `demo-${Date.now()}` },
    body,
  });
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw new Error(`the API answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8')}`);
  }
  const file = createWriteStream(out);
  res.pipe(file);
  const written = once(file, 'finish');
  onInterrupt.push(() => {
    res.unpipe(file);
    res.destroy();
    file.end();
  });

  log(`sending ${udpCount} UDP datagrams and ${httpCount} HTTP requests into each instance`);
  for (const [i, c] of instances.entries()) {
    const cell = cellOf.get(c)!;
    check();
    await cell.sendUdpTo(c, { port: 7000 + i, count: udpCount, size: 100, gapUs: 1000 });
    for (let k = 0; k < httpCount; k++) {
      await cell.execInCell('/bin/busybox', ['wget', '-q', '-O', '/dev/null', `http://${c.ip}:8080/`]);
    }
  }
  log(`traffic sent; the capture ends after ${duration} s`);
  await written;
  check();
  log(`wrote ${out} (${readFileSync(out).length} bytes)\n`);

  summarise(out);
  const messages: ControlMessage[] = [];
  for await (const e of readPcapng(Readable.from([readFileSync(out)]))) {
    if (e.type === 'message') messages.push(e.message);
  }
  console.log(`in-band messages (${messages.length}):`);
  for (const m of messages) console.log(`  ${describeControlMessage(m)}`);
  console.log('');
}

function summarise(file: string): void {
  console.log(execFileSync('capinfos', [file], { encoding: 'utf8' }));
  const rows = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=\t',
      '-e',
      'frame.interface_id',
      '-e',
      'frame.interface_description',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  )
    .split('\n')
    .filter((l) => l.length > 0);
  const counts = new Map<string, { description: string; packets: number }>();
  for (const row of rows) {
    const [id = '?', description = ''] = row.split('\t');
    const entry = counts.get(id) ?? { description, packets: 0 };
    entry.packets++;
    counts.set(id, entry);
  }
  console.log('packets per interface (tshark -T fields -e frame.interface_id):');
  for (const [id, { description, packets }] of [...counts].sort(([a], [b]) => Number(a) - Number(b))) {
    console.log(`  interface ${id}: ${packets} packets  ${description}`);
  }
  console.log('');
  const first = execFileSync('tshark', ['-r', file, '-c', '6'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  console.log(`first packets (tshark -r ${file} -c 6):\n${first}`);
}

process.once('SIGINT', () => {
  console.error('demo: interrupted, cleaning up');
  interrupted = true;
  process.exitCode = 130;
  for (const hook of onInterrupt) hook();
  // Normally main() stops at its next step and cleans up; this is the backstop.
  setTimeout(() => void cleanup().finally(() => process.exit(130)), 30000);
});

main()
  .then(
    () => cleanup(),
    async (err: unknown) => {
      if (!interrupted) console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
      await cleanup();
      process.exitCode = interrupted ? 130 : 1;
    },
  )
  .finally(() => {
    // Handles the harness keeps (servers already closed) must not keep us alive.
    process.exit(process.exitCode ?? 0);
  });
