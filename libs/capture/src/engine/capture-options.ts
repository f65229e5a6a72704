import { InvalidCaptureOptionError } from '../errors';
import type { PacketBatch } from '../packet-batch';

export const SNAPLEN_MIN = 1;
export const SNAPLEN_MAX = 262144;
export const SNAPLEN_DEFAULT = 65535;
export const FILTER_MAX_LENGTH = 5000;
/** Linux IFNAMSIZ - 1. */
export const DEVICE_NAME_MAX_LENGTH = 15;

/** Options of one live capture. Everything but `device` has a default. */
export interface LiveCaptureOptions {
  /** Device name inside the namespace, e.g. `eth0` or `lo`. */
  device: string;
  /**
   * Network namespace to capture in: `/proc/<pid>/ns/net` or a named namespace (`/run/netns/<name>`). Omitted:
   * the process's own namespace.
   */
  netns?: string;
  /** BPF filter in libpcap syntax; empty or omitted captures everything. */
  filter?: string;
  /** Bytes kept of each packet, 1..262144. Default 65535. */
  snaplen?: number;
  /** Kernel ring buffer in bytes; 0 or omitted = libpcap's default (2 MiB). */
  bufferSize?: number;
  /** Put the device in promiscuous mode. Default false. */
  promiscuous?: boolean;
  /**
   * Immediate mode: every packet is handed over as soon as it arrives. libpcap then uses TPACKET_V2, whose ring
   * has one fixed slot of about `snaplen` bytes per packet, so it needs a larger buffer for the same load
   * (chosen from snaplen when `bufferSize` is not given) and costs more CPU per packet.
   * Off (default): TPACKET_V3, packets packed into blocks that are handed over when full or after `timeoutMs`;
   * with the short default timeout this is live enough for streaming and much cheaper under load.
   */
  immediate?: boolean;
  /**
   * Buffered mode's block timeout in ms (1..10000): the longest a packet waits in the kernel. Under load (the kernel
   * handing over full blocks) a batch is also held up to this long to gather more blocks. Default 50.
   */
  timeoutMs?: number;
  /** Size of a batch in bytes (64 KiB..64 MiB): a batch ends at the packet that reaches it. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Batches queued in the stream before the engine stops reading the kernel (backpressure). Default 16. */
  highWaterMark?: number;
  /**
   * Reusable batch buffers (0..64, each maxBatchBytes plus one packet), for a consumer that calls each batch's
   * `release()` once it is done with it: the engine then writes batches straight into these buffers instead of
   * allocating and copying one per batch. Batches arriving while every buffer is out are allocated as usual.
   * Default 0 (off). LiveCapture writes batches into them; IsolatedCapture copies the worker's batches into them.
   */
  batchPool?: number;
  /**
   * Receives each batch directly instead of the stream's 'data' events, as net.Socket's `onread` does for bytes:
   * no stream buffering and none of the stream's work per batch (measured: about 15% of the engine's CPU at 300k
   * packets/s, docs/capture-engine.md). The callback takes the batch synchronously (writes, copies or queues it);
   * returning `false` stops reading the kernel until `resume()` is called. It is never called before `open()` has
   * returned (resolved). The stream still ends ('end') after `stop()` and fails ('error') as usual; it is in
   * flowing mode from the start.
   */
  onBatch?: (batch: PacketBatch) => boolean | void;
}

export type ResolvedCaptureOptions = Required<Omit<LiveCaptureOptions, 'netns' | 'filter' | 'onBatch'>> &
  Pick<LiveCaptureOptions, 'netns' | 'filter' | 'onBatch'>;

/** Why a device name is invalid, or undefined when it is fine (the rules of Linux interface names). */
export function deviceNameProblem(device: string): string | undefined {
  if (device.length === 0) return 'device must not be empty';
  if (device.length > DEVICE_NAME_MAX_LENGTH) {
    return `device must be at most ${DEVICE_NAME_MAX_LENGTH} characters, got ${device.length}`;
  }
  if (device === '.' || device === '..') return `device must not be '${device}'`;
  // eslint-disable-next-line no-control-regex
  if (/[/:\s\x00]/.test(device)) return `device '${device}' must not contain '/', ':', whitespace or NUL`;
  return undefined;
}

/** Why a filter is unacceptable before libpcap even sees it, or undefined. */
export function filterTextProblem(filter: string): string | undefined {
  if (filter.length > FILTER_MAX_LENGTH) {
    return `filter must be at most ${FILTER_MAX_LENGTH} characters, got ${filter.length}`;
  }
  if (!/^[\x20-\x7e]*$/.test(filter)) return 'filter must contain printable ASCII characters only';
  return undefined;
}

function intInRange(name: string, value: number, min: number, max: number, problems: string[]): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** Applies defaults and checks every option; throws one InvalidCaptureOptionError listing each problem. */
export function resolveCaptureOptions(options: LiveCaptureOptions): ResolvedCaptureOptions {
  const resolved: ResolvedCaptureOptions = {
    device: options.device,
    netns: options.netns,
    filter: options.filter ?? '',
    snaplen: options.snaplen ?? SNAPLEN_DEFAULT,
    bufferSize: options.bufferSize ?? 0,
    promiscuous: options.promiscuous ?? false,
    immediate: options.immediate ?? false,
    timeoutMs: options.timeoutMs ?? 50,
    maxBatchBytes: options.maxBatchBytes ?? 1 << 20,
    highWaterMark: options.highWaterMark ?? 16,
    batchPool: options.batchPool ?? 0,
    onBatch: options.onBatch,
  };
  const problems: string[] = [];
  const dev = deviceNameProblem(resolved.device);
  if (dev) problems.push(dev);
  const filter = filterTextProblem(resolved.filter ?? '');
  if (filter) problems.push(filter);
  if (resolved.netns !== undefined && !resolved.netns.startsWith('/')) {
    problems.push(`netns must be an absolute path such as /proc/<pid>/ns/net, got '${resolved.netns}'`);
  }
  intInRange('snaplen', resolved.snaplen, SNAPLEN_MIN, SNAPLEN_MAX, problems);
  intInRange('bufferSize', resolved.bufferSize, 0, 1 << 30, problems);
  intInRange('timeoutMs', resolved.timeoutMs, 1, 10000, problems);
  intInRange('maxBatchBytes', resolved.maxBatchBytes, 64 * 1024, 64 << 20, problems);
  intInRange('highWaterMark', resolved.highWaterMark, 1, 4096, problems);
  intInRange('batchPool', resolved.batchPool, 0, 64, problems);
  if (resolved.onBatch !== undefined && typeof resolved.onBatch !== 'function') {
    problems.push('onBatch must be a function');
  }
  if (problems.length > 0) throw new InvalidCaptureOptionError(problems.join('; '));
  if (resolved.immediate && resolved.bufferSize === 0)
    resolved.bufferSize = immediateBufferSize(resolved.snaplen);
  return resolved;
}

/**
 * Ring size for immediate mode, where every packet takes a slot of about snaplen bytes: room for 2048 packets,
 * at least libpcap's 2 MiB and at most 64 MiB.
 */
export function immediateBufferSize(snaplen: number): number {
  const slot = Math.ceil((snaplen + 96) / 16) * 16;
  return Math.min(64 << 20, Math.max(2 << 20, slot * 2048));
}

/** The namespace path of a process. */
export function netnsOfPid(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new InvalidCaptureOptionError(`invalid pid ${pid}`);
  return `/proc/${pid}/ns/net`;
}

/** The path of a namespace created with `ip netns add NAME`. */
export function namedNetns(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === '.' || name === '..') {
    throw new InvalidCaptureOptionError(`invalid namespace name '${name}'`);
  }
  return `/run/netns/${name}`;
}
