/**
 * A simulated Diego cell: real runc containers (Debian runc, a busybox-static rootfs), each joined to its own
 * network namespace wired by a veth pair to a "cell" namespace, and a container metadata store in the real
 * format (reference/diego-cell.md). Runc state lives under a temp `--root`, so nothing touches the host's
 * containers. Addresses come from 198.18.0.0/15 and exist only inside the namespaces created here. Names are unique
 * per process and call; `destroy()` removes everything, also after a partial create, and is safe to call twice.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ip, TRAFFIC_SCRIPT } from './test-network';

const execFileAsync = promisify(execFile);
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'sleep', 'httpd', 'nc', 'wget', 'cat', 'ls', 'ip', 'ps'];
let counter = 0;

export interface ContainerSpec {
  /** `metadata.app_id` in the store. */
  readonly appId: string;
  /** Process inside the container; default: busybox httpd on port 8080 in the foreground. */
  readonly args?: readonly string[];
  /** `container_workload`; default `app`. */
  readonly workload?: 'app' | 'task' | 'staging';
}

export interface CellContainer {
  /** Garden handle = instance guid = runc id (shortened GUID form, as Garden makes them). */
  readonly handle: string;
  readonly appId: string;
  readonly spaceId: string;
  readonly orgId: string;
  /** The container's `eth0` address (the overlay IP CC reports as instance_internal_ip). */
  readonly ip: string;
  /** The cell's end of the veth pair (in the cell namespace). */
  readonly cellIp: string;
  readonly cellDevice: string;
  /** The named namespace the container joined (`ip netns` name). */
  readonly ns: string;
  readonly bundle: string;
}

export class DiegoCell {
  /** Temp directory holding bundles, runc root and the store. */
  readonly dir: string;
  /** Path of the container store file. */
  readonly storeFile: string;
  /** The `--root` for runc. */
  readonly runcRoot: string;
  /** The cell's own namespace (where the veth host ends live). */
  readonly cellNs: string;
  readonly containers: CellContainer[] = [];

  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(private readonly tag: string) {
    this.dir = mkdtempSync(join(tmpdir(), `diego-cell-${tag}-`));
    this.storeFile = join(this.dir, 'store.json');
    this.runcRoot = join(this.dir, 'runc');
    this.cellNs = `${tag}c`;
    mkdirSync(this.runcRoot);
  }

  /** Creates the cell namespace and one running container per spec, then writes the store. */
  static async create(specs: readonly ContainerSpec[]): Promise<DiegoCell> {
    const tag = `dc${process.pid % 100000}x${counter++}`;
    const cell = new DiegoCell(tag);
    try {
      ip('netns', 'add', cell.cellNs);
      cell.namespaces.push(cell.cellNs);
      ip('-n', cell.cellNs, 'link', 'set', 'lo', 'up');
      const third = (process.pid + counter * 13) % 250;
      for (const [i, spec] of specs.entries()) {
        await cell.addContainer(spec, i, third);
      }
      cell.writeStore();
    } catch (err) {
      await cell.destroy();
      throw err;
    }
    return cell;
  }

  private async addContainer(spec: ContainerSpec, i: number, third: number): Promise<void> {
    const hex = randomBytes(14).toString('hex');
    // Garden handles look like a GUID with the last group shortened: 8-4-4-4-4.
    const handle = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 24)}`;
    const ns = `${this.tag}n${i}`;
    const cellDevice = `${this.tag}h${i}`;
    const base = 4 * i;
    const container: CellContainer = {
      handle,
      appId: spec.appId,
      spaceId: randomUUID(),
      orgId: randomUUID(),
      ip: `198.18.${third}.${base + 2}`,
      cellIp: `198.18.${third}.${base + 1}`,
      cellDevice,
      ns,
      bundle: join(this.dir, `bundle-${i}`),
    };
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    ip(
      'link',
      'add',
      cellDevice,
      'netns',
      this.cellNs,
      'type',
      'veth',
      'peer',
      'name',
      `${this.tag}e${i}`,
      'netns',
      ns,
    );
    ip('-n', ns, 'link', 'set', `${this.tag}e${i}`, 'name', 'eth0');
    ip('-n', ns, 'addr', 'add', `${container.ip}/30`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', this.cellNs, 'addr', 'add', `${container.cellIp}/30`, 'dev', cellDevice);
    ip('-n', this.cellNs, 'link', 'set', cellDevice, 'up');

    this.makeBundle(container.bundle, ns, spec.args ?? ['httpd', '-f', '-p', '8080', '-h', '/www']);
    this.containers.push(container);
    const log = openSync(join(this.dir, `runc-${i}.log`), 'w');
    try {
      // Detached with terminal false: runc hands the container our stdio, so it must not be a pipe we wait on.
      await new Promise<void>((resolve, reject) => {
        const child = spawn(
          'runc',
          ['--root', this.runcRoot, 'run', '-d', '--bundle', container.bundle, handle],
          {
            stdio: ['ignore', log, log],
          },
        );
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0
            ? resolve()
            : reject(
                new Error(
                  `runc run ${handle} exited ${code}: ${readFileSync(join(this.dir, `runc-${i}.log`), 'utf8')}`,
                ),
              ),
        );
      });
    } finally {
      closeSync(log);
    }
  }

  private makeBundle(bundle: string, ns: string, args: readonly string[]): void {
    const rootfs = join(bundle, 'rootfs');
    for (const d of ['bin', 'www', 'tmp', 'proc', 'dev', 'sys'])
      mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(join(rootfs, 'www', 'index.html'), 'hello from the simulated cell\n');
    execFileSync('runc', ['spec', '--bundle', bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
    const configFile = join(bundle, 'config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as {
      process: { terminal: boolean; args: string[]; env: string[] };
      linux: { namespaces: { type: string; path?: string }[] };
    };
    config.process.terminal = false;
    config.process.args = [...args];
    config.linux.namespaces = config.linux.namespaces.map((n) =>
      n.type === 'network' ? { type: 'network', path: `/run/netns/${ns}` } : n,
    );
    writeFileSync(configFile, JSON.stringify(config, null, 2));
  }

  /** Writes the store as silk's CNI wrapper does: keyed by handle. */
  writeStore(extra: Record<string, unknown> = {}): void {
    const store: Record<string, unknown> = { ...extra };
    for (const c of this.containers) {
      store[c.handle] = {
        handle: c.handle,
        ip: c.ip,
        metadata: {
          app_id: c.appId,
          space_id: c.spaceId,
          org_id: c.orgId,
          policy_group_id: c.appId,
          ports: '8080',
          container_workload: 'app',
        },
      };
    }
    writeFileSync(this.storeFile, JSON.stringify(store));
  }

  /** `runc state` of a container as runc prints it. */
  async state(handle: string): Promise<{ id: string; pid: number; status: string }> {
    const { stdout } = await execFileAsync('runc', ['--root', this.runcRoot, 'state', handle], {
      encoding: 'utf8',
    });
    return JSON.parse(stdout) as { id: string; pid: number; status: string };
  }

  /** Kills a container's process (SIGKILL) and waits until runc reports it stopped. */
  async kill(handle: string): Promise<void> {
    await execFileAsync('runc', ['--root', this.runcRoot, 'kill', handle, 'KILL']);
    for (let i = 0; i < 100; i++) {
      const s = await this.state(handle).catch(() => undefined);
      if (!s || s.status === 'stopped') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`container ${handle} did not stop`);
  }

  /**
   * Tears down a container's network as the CNI plugin does when Garden destroys it: deleting the cell's end of
   * the veth pair removes the container's `eth0` too.
   */
  removeNetwork(c: CellContainer): void {
    ip('-n', this.cellNs, 'link', 'del', c.cellDevice);
  }

  /** Runs a command in the cell namespace (e.g. traffic into a container) and waits for it. */
  async execInCell(cmd: string, args: readonly string[], timeoutMs = 30000): Promise<string> {
    const { stdout } = await execFileAsync('ip', ['netns', 'exec', this.cellNs, cmd, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return stdout;
  }

  /** Runs a command inside a running container (`runc exec`, busybox applets) and waits for it. */
  async execInContainer(handle: string, args: readonly string[], timeoutMs = 30000): Promise<string> {
    const { stdout } = await execFileAsync('runc', ['--root', this.runcRoot, 'exec', handle, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return stdout;
  }

  /** Sends `count` UDP datagrams of `size` bytes from the cell namespace to a container's eth0. */
  async sendUdpTo(
    c: CellContainer,
    opts: { port: number; count: number; size?: number; gapUs?: number },
  ): Promise<void> {
    await this.execInCell(process.execPath, [
      TRAFFIC_SCRIPT,
      'udp',
      c.ip,
      String(opts.port),
      String(opts.count),
      String(opts.size ?? 64),
      String(opts.gapUs ?? 200),
    ]);
  }

  /** Sends UDP datagrams to 127.0.0.1 inside the container's own namespace (seen only on its `lo`). */
  async sendUdpToLoopback(
    c: CellContainer,
    opts: { port: number; count: number; size?: number },
  ): Promise<void> {
    await execFileAsync(
      'ip',
      [
        'netns',
        'exec',
        c.ns,
        process.execPath,
        TRAFFIC_SCRIPT,
        'udp',
        '127.0.0.1',
        String(opts.port),
        String(opts.count),
        String(opts.size ?? 64),
        '200',
      ],
      { timeout: 30000 },
    );
  }

  /** Starts a long-running command in the cell namespace; killed by PID in `destroy()`. */
  spawnInCell(cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.cellNs, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Deletes the containers (runc delete --force), the namespaces and the temp directory. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    }
    for (const c of this.containers) {
      await execFileAsync('runc', ['--root', this.runcRoot, 'delete', '--force', c.handle]).catch(
        () => undefined,
      );
    }
    for (const ns of this.namespaces) {
      if (existsSync(`/run/netns/${ns}`)) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // already gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
