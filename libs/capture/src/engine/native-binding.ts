/**
 * The only place that loads the native addon (libs/capture/native). Everything else uses the typed face in
 * this folder.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface NativeStats {
  received: number;
  dropped: number;
  ifDropped: number;
  delivered: number;
  batches: number;
  lost: number;
  reads: number;
}

export interface NativeOpenOptions {
  device: string;
  netns?: string;
  filter?: string;
  snaplen: number;
  bufferSize: number;
  timeoutMs: number;
  promiscuous: boolean;
  immediate: boolean;
  maxBatchBytes: number;
}

/**
 * A batch from the addon. `pooled`: `data` is a buffer given with `provide()`, of which the first `used` bytes
 * hold the batch; else `data` is a fresh copy (`used` = its length).
 */
export type NativeBatchCallback = (
  err: (Error & { code?: string }) | null,
  data: Buffer | null,
  count: number,
  pooled: boolean,
  used: number,
) => void;

export interface NativeBatch {
  data: Buffer;
  count: number;
  pooled: boolean;
  used: number;
}

export interface NativeLiveCapture {
  start(onBatch: NativeBatchCallback): void;
  pause(): void;
  resume(): void;
  readNow(): NativeBatch | null;
  /**
   * Gives the engine a buffer to write a later batch into (at least maxBatchBytes plus one packet's block); it
   * comes back as a pooled batch. Ignored once closed.
   */
  provide(buffer: Buffer): void;
  stats(): NativeStats;
  close(): void;
  readonly linkType: number;
  readonly snaplen: number;
  readonly precision: 'nano' | 'micro';
  readonly warning: string | null;
}

export interface NativeDevice {
  name: string;
  index: number;
  up: boolean;
  running: boolean;
  loopback: boolean;
  addresses: { family: 'inet' | 'inet6'; address: string; netmask: string }[];
}

export interface NativeAddon {
  LiveCapture: new (options: NativeOpenOptions) => NativeLiveCapture;
  listDevices(netns?: string): NativeDevice[];
  compileFilter(filter: string, linkType: number, snaplen: number): string | null;
  libVersion(): string;
  /** A connected pair of close-on-exec UNIX stream sockets (a capture worker's channel). */
  socketPair(): [number, number];
  /** A close-on-exec memfd of `bytes` bytes and a Buffer over its mapping (a capture worker's shared slots). */
  sharedMemory(bytes: number): { fd: number; buffer: Buffer };
}

const ADDON_PATH = join('libs', 'capture', 'native', 'build', 'Release', 'pcap_capture.node');

/**
 * Finds the built addon: `native/` beside this lib's `src/`, or, from a build output such as
 * `dist/apps/agent/libs/capture/src/engine`, the nearest ancestor holding `libs/capture/native/build`, and last the
 * working directory.
 */
function findAddon(): string {
  const candidates = [join(__dirname, '..', '..', 'native', 'build', 'Release', 'pcap_capture.node')];
  for (let dir = __dirname; ; dir = dirname(dir)) {
    candidates.push(join(dir, ADDON_PATH));
    if (dirname(dir) === dir) break;
  }
  candidates.push(join(process.cwd(), ADDON_PATH)); // a build output placed outside the checkout
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(
      `the capture engine's native addon is not built (no ${ADDON_PATH} above ${__dirname}); run 'npm run build:native'`,
    );
  }
  return found;
}

/**
 * The capture worker executable (`pcap_capture_worker`), built beside the addon; one process per isolated
 * capture.
 */
export function workerExecutable(): string {
  return join(dirname(findAddon()), 'pcap_capture_worker');
}

let addon: NativeAddon | undefined;

/** Loads the addon once. Throws a plain Error naming the build command when it is missing. */
export function nativeAddon(): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  addon ??= require(findAddon()) as NativeAddon;
  return addon;
}
