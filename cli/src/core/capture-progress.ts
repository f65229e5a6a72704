import type { ControlMessage } from '@pcap/capture';

import type { FramedEvent } from './block-framer';

/** Counters of one capture as the CLI sees its stream. */
export class CaptureTally {
  packets = 0;
  bytes = 0;
  readonly startedAt = Date.now();
  /** Instance (or interface) → status. */
  readonly instances = new Map<string, 'capturing' | 'unavailable' | 'stopped'>();
  private readonly interfaces = new Map<number, string>();
  /** Latest ISB counters per interface (cumulative). */
  private readonly isb = new Map<number, { ifDrop: bigint; osDrop: bigint }>();
  discardedByCongestion = 0;
  readonly messages: ControlMessage[] = [];

  add(event: FramedEvent): void {
    switch (event.kind) {
      case 'interface': {
        const label = instanceLabel(event.description, event.name, event.id);
        this.interfaces.set(event.id, label);
        this.instances.set(label, 'capturing');
        return;
      }
      case 'packets':
        this.packets += event.count;
        return;
      case 'statistics':
        this.isb.set(event.interfaceId, { ifDrop: event.ifDrop, osDrop: event.osDrop });
        return;
      case 'message': {
        const m = event.message;
        this.messages.push(m);
        if (m.type === 'CONGESTED' && typeof m.fields?.discardedPackets === 'number') {
          this.discardedByCongestion += m.fields.discardedPackets;
        }
        const index = m.fields?.instanceIndex;
        const iface = m.fields?.interfaceId;
        const label =
          typeof index === 'number'
            ? `#${index}`
            : typeof iface === 'number'
              ? this.interfaces.get(iface)
              : undefined;
        if (label !== undefined) {
          if (
            m.type === 'INSTANCE_UNAVAILABLE' ||
            m.type === 'START_CAPTURE_FAILED' ||
            m.type === 'CONNECTION_ERROR'
          ) {
            this.instances.set(label, 'unavailable');
          } else if (m.type === 'CAPTURE_STOPPED' && this.instances.get(label) === 'capturing') {
            this.instances.set(label, 'stopped');
          }
        }
        return;
      }
    }
  }

  get kernelDrops(): bigint {
    let n = 0n;
    for (const s of this.isb.values()) n += s.ifDrop;
    return n;
  }

  get discarded(): bigint {
    let n = 0n;
    for (const s of this.isb.values()) n += s.osDrop;
    return n > BigInt(this.discardedByCongestion) ? n : BigInt(this.discardedByCongestion);
  }

  elapsedSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  line(): string {
    const inst = [...this.instances.entries()]
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([k, v]) => `${k}:${v === 'capturing' ? 'up' : v === 'stopped' ? 'done' : 'down'}`)
      .join(' ');
    return (
      `${this.elapsedSeconds().toFixed(0)}s  ${this.packets} packets  ${formatBytes(this.bytes)}` +
      `  drops ${this.kernelDrops}/${this.discarded}` +
      (inst === '' ? '' : `  instances ${inst}`)
    );
  }
}

/** `#2` from `if_description` `... index=2 ...` (CF), else the interface name, else `if<id>`. */
function instanceLabel(description: string | undefined, name: string | undefined, id: number): string {
  const m = description === undefined ? null : /(?:^|\s)index=(\d+)(?:\s|$)/.exec(description);
  if (m !== null) return `#${m[1]}`;
  return name ?? `if${id}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** `origin (TYPE): message`, as the original pcap-bosh-cli printed messages. */
export function formatMessage(m: ControlMessage): string {
  return `${m.origin} (${m.type}): ${m.message}`;
}

/**
 * Progress on stderr: a status line redrawn twice a second when stderr is a terminal, control messages as lines
 * (unless quiet), nothing at all with `-q`.
 */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stderr: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly tally: CaptureTally,
    private readonly quiet: boolean,
  ) {}

  private get live(): boolean {
    return !this.quiet && this.stderr.isTTY === true;
  }

  start(): void {
    if (!this.live) return;
    this.timer = setInterval(() => this.draw(), 500);
    this.timer.unref();
  }

  message(m: ControlMessage): void {
    this.note(formatMessage(m));
  }

  /** A line for the user (not with -q). */
  note(text: string): void {
    if (this.quiet) return;
    this.clear();
    this.stderr.write(`${text}\n`);
    if (this.timer !== undefined) this.draw();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private draw(): void {
    this.stderr.write(`\r\x1b[K${this.tally.line()}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn) this.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
