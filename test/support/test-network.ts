/**
 * Test hosts in network namespaces: two namespaces joined by a veth pair, addresses from 198.18.0.0/15 (the
 * range reserved for network benchmark tests) that exist only inside them. Names are unique per process and
 * call, so parallel runs never collide; `destroy()` removes everything and is safe to call twice.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
let counter = 0;

export interface Host {
  /** Namespace name (`ip netns`), path `/run/netns/<ns>`. */
  readonly ns: string;
  readonly netnsPath: string;
  readonly device: string;
  readonly ip: string;
}

/** Runs `ip` synchronously; throws with its stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class TestNetwork {
  private destroyed = false;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly a: Host,
    readonly b: Host,
  ) {}

  /** Creates namespaces `<tag>a`/`<tag>b` with a veth pair and /24 addresses, both links and `lo` up. */
  static create(subnet = 0): TestNetwork {
    const tag = `pt${process.pid % 100000}x${counter++}`;
    const third = (process.pid + counter * 7 + subnet) % 250;
    const a: Host = {
      ns: `${tag}a`,
      netnsPath: `/run/netns/${tag}a`,
      device: `${tag}a`,
      ip: `198.18.${third}.1`,
    };
    const b: Host = {
      ns: `${tag}b`,
      netnsPath: `/run/netns/${tag}b`,
      device: `${tag}b`,
      ip: `198.18.${third}.2`,
    };
    const net = new TestNetwork(a, b);
    try {
      ip('netns', 'add', a.ns);
      ip('netns', 'add', b.ns);
      ip('link', 'add', a.device, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.device, 'netns', b.ns);
      for (const h of [a, b]) {
        ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.device);
        ip('-n', h.ns, 'link', 'set', h.device, 'up');
        ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      }
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  /** Runs a command inside a namespace and waits for it. */
  async exec(host: Host, cmd: string, args: string[], timeoutMs = 30000): Promise<string> {
    const { stdout } = await execFileAsync('ip', ['netns', 'exec', host.ns, cmd, ...args], {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    return stdout;
  }

  /** Starts a long-running command inside a namespace; it is killed (by PID) in `destroy()` if still running. */
  spawn(host: Host, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Deletes the namespaces (which removes the veth pair) and kills what `spawn` started. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    }
    for (const h of [this.a, this.b]) {
      if (existsSync(h.netnsPath)) {
        try {
          ip('netns', 'del', h.ns);
        } catch {
          // already gone: a test may delete a namespace on purpose
        }
      }
    }
  }
}

/** Path of the traffic generator script (plain Node, runnable inside a namespace). */
export const TRAFFIC_SCRIPT = join(__dirname, 'traffic.js');

/** Sends `count` UDP datagrams of `size` bytes from `from` to `to:port`, `gapUs` apart (busy-waiting). */
export async function sendUdp(
  net: TestNetwork,
  from: Host,
  to: Host,
  opts: { port: number; count: number; size?: number; gapUs?: number },
): Promise<void> {
  await net.exec(from, process.execPath, [
    TRAFFIC_SCRIPT,
    'udp',
    to.ip,
    String(opts.port),
    String(opts.count),
    String(opts.size ?? 64),
    String(opts.gapUs ?? 200),
  ]);
}

/** Starts a TCP sink in `host` on `port` that reads and discards; resolves once it listens. */
export async function startTcpSink(net: TestNetwork, host: Host, port: number): Promise<ChildProcess> {
  const child = net.spawn(host, process.execPath, [TRAFFIC_SCRIPT, 'tcp-sink', host.ip, String(port)]);
  await waitForLine(child, 'listening');
  return child;
}

/** Sends `bytes` over one TCP connection from `from` to `to:port`, then closes it. */
export async function sendTcp(
  net: TestNetwork,
  from: Host,
  to: Host,
  port: number,
  bytes: number,
): Promise<void> {
  await net.exec(from, process.execPath, [TRAFFIC_SCRIPT, 'tcp-send', to.ip, String(port), String(bytes)]);
}

/** Resolves when the child prints `text` on stdout or stderr; rejects if it exits first or after `timeoutMs`. */
export function waitForLine(child: ChildProcess, text: string, timeoutMs = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (seen.includes(text)) done();
    };
    const onExit = (code: number | null): void =>
      done(new Error(`process exited (${code}) before '${text}': ${seen}`));
    const timer = setTimeout(() => done(new Error(`timed out waiting for '${text}': ${seen}`)), timeoutMs);
    function done(err?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
