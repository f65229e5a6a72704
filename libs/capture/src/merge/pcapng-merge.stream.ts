import { Readable, pipeline } from 'node:stream';
import { encodeControlMessage } from '../pcapng/control-message.codec';
import { nowNs, type ControlMessage } from '../pcapng/control-message.model';
import type { PcapngEvent, PcapngInterfaceEvent } from '../pcapng/pcapng-block.parser';
import {
  encodeInterfaceDescription,
  encodeSectionHeader,
  type SectionHeaderOptions,
} from '../pcapng/pcapng-block.encoder';
import { PcapngReader } from '../pcapng/pcapng-stream.reader';
import { CommonOption, IdbOption, TSRESOL_NS } from '../pcapng/pcapng.constants';
import { joinTimestamp, unitsToNs } from '../pcapng/timestamp-resolution.util';

/** One pcapng byte stream to merge (one capture instance/agent). The merge owns and consumes it. */
export interface MergeInput {
  readonly source: Readable;
  /** Names the input in interface names and in messages the merge writes, e.g. `instance 2`. */
  readonly label?: string;
}

export interface PcapngMergeOptions {
  /** Options of the single output Section Header Block. */
  readonly section?: SectionHeaderOptions;
  /**
   * Wall-clock milliseconds without any bytes after which an empty, still-open input stops holding back the
   * others. Default 500.
   */
  readonly idleMs?: number;
  /**
   * Reorder window in packet time: a packet at least this much older than the newest packet read from any
   * input is released even if an empty input is not idle yet. Default 5 s; `null` disables the rule.
   */
  readonly windowNs?: bigint | null;
  /** Per-input read-ahead bound in EPB bytes. Default 4 MiB. */
  readonly maxBufferedBytesPerInput?: number;
  /** Per-input read-ahead bound in packets. Default 65536. */
  readonly maxBufferedPacketsPerInput?: number;
  /** Largest pcapng block accepted from an input. Default 16 MiB. */
  readonly maxBlockBytes?: number;
  /** `prefix` (default): output if_name = `<label>/<name>`; `keep`: names unchanged. */
  readonly interfaceNames?: 'prefix' | 'keep';
  /** Origin of messages the merge itself writes. Default `merge`. */
  readonly origin?: string;
  /** Output chunk size for coalesced small blocks, and the output highWaterMark. Default 64 KiB. */
  readonly chunkBytes?: number;
  /** Clock in milliseconds, for idle detection. Default Date.now. */
  readonly now?: () => number;
}

/** Counters of one merge. */
export interface MergeStats {
  readonly packets: number;
  /** Packets written earlier in time than a packet already written (see docs/pcapng-stream.md). */
  readonly latePackets: number;
  /** Packets released while a non-idle input was empty (window or memory bound reached). */
  readonly forcedPackets: number;
  readonly interfaces: number;
  /** Inputs that failed (each produced a message). */
  readonly failedInputs: number;
  /** Simple Packet Blocks dropped (they carry no timestamp to order by). */
  readonly droppedSimplePackets: number;
}

interface RunItem {
  readonly kind: 'run';
  readonly data: Buffer;
  /** Over `data`, for the per-packet reads. */
  readonly view: DataView;
  off: number;
  remaining: number;
}

interface BlockItem {
  readonly kind: 'block';
  readonly data: Buffer;
}

interface InputState {
  readonly index: number;
  readonly label: string;
  readonly source: Readable;
  readonly reader: PcapngReader;
  /** Local interface id (current section) → output interface id. */
  map: number[];
  readonly queue: Array<RunItem | BlockItem>;
  bufferedBytes: number;
  bufferedPackets: number;
  hasHead: boolean;
  headHi: number;
  headLo: number;
  closed: boolean;
  sawBlocks: boolean;
  lastActivity: number;
  lastBytesIn: number;
}

const INLINE_COPY_LIMIT = 16 * 1024;

/**
 * Time-ordered k-way merge of pcapng byte streams into one pcapng byte stream.
 *
 * Output: one SHB; every input interface gets its own IDB (name/description kept, name prefixed with the
 * input's label unless `interfaceNames: 'keep'`, original if_tsresol kept so EPB bytes pass through unchanged
 * apart from the interface id); EPBs in non-decreasing timestamp order except for late packets; ISBs
 * (re-numbered) and control messages pass through after the packets that preceded them in their input.
 *
 * Release policy: the oldest queued packet P (over all inputs) is written when every other open input either has
 * a queued packet (necessarily ≥ P) or has been idle for `idleMs`; or when P is older than the newest packet seen
 * by `windowNs`; or when an input's read-ahead buffer is full. A timer re-evaluates when an idle deadline passes,
 * so an idle input never blocks for longer than `idleMs`. A packet that arrives after newer ones were written is
 * written anyway, as soon as possible (counted in `stats.latePackets`).
 *
 * Memory: per input at most the read-ahead bound plus one chunk, plus the reader's small object buffer.
 * Backpressure: inputs are read only while the output's consumer wants data. An input that errors or closes
 * early ends with a CONNECTION_ERROR message (INSTANCE_UNAVAILABLE if it never sent a block) and the merge
 * continues. The output ends when every input has ended or failed. Destroying the output destroys all inputs.
 * EPB and ISB bytes of the inputs are modified in place (interface ids).
 */
export class PcapngMerge extends Readable {
  private readonly inputs: InputState[];
  private readonly idleMs: number;
  private readonly windowNs: bigint | null;
  private readonly maxBytes: number;
  private readonly maxPackets: number;
  private readonly prefixNames: boolean;
  private readonly origin: string;
  private readonly chunkBytes: number;
  private readonly now: () => number;
  private readonly section: SectionHeaderOptions;
  /** Output interface id → if_tsresol. */
  private readonly outTsresol: number[] = [];
  private wantData = false;
  /**
   * Inputs must be read before the next release step: set at the start of a pass and when an input ran out of
   * queued data or fell below its read-ahead bound. While every input still has queued packets, reading more
   * changes no release decision, so a pass releasing one packet at a time does not poll every input per packet.
   */
  private refill = true;
  /** The clock as of the last read of the inputs (one pass takes no measurable time). */
  private passNow = 0;
  private pumping = false;
  private repump = false;
  private headerWritten = false;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private out: Buffer | undefined;
  private outStart = 0;
  private outPos = 0;
  /** Scratch for timestamp keys (avoids per-packet allocation). */
  private keyHi = 0;
  private keyLo = 0;
  private maxSeenHi = -1;
  private maxSeenLo = 0;
  private lastHi = -1;
  private lastLo = 0;
  private windowHi = -1;
  private windowLo = 0;
  private readonly counters = {
    packets: 0,
    latePackets: 0,
    forcedPackets: 0,
    failedInputs: 0,
    droppedSimplePackets: 0,
  };

  constructor(inputs: readonly MergeInput[], options: PcapngMergeOptions = {}) {
    const chunkBytes = options.chunkBytes ?? 64 * 1024;
    super({ highWaterMark: chunkBytes });
    this.idleMs = options.idleMs ?? 500;
    this.windowNs = options.windowNs === undefined ? 5_000_000_000n : options.windowNs;
    this.maxBytes = options.maxBufferedBytesPerInput ?? 4 * 1024 * 1024;
    this.maxPackets = options.maxBufferedPacketsPerInput ?? 65536;
    this.prefixNames = (options.interfaceNames ?? 'prefix') === 'prefix';
    this.origin = options.origin ?? 'merge';
    this.chunkBytes = chunkBytes;
    this.now = options.now ?? Date.now;
    this.section = options.section ?? {};
    const started = this.now();
    this.inputs = inputs.map((input, index) => {
      const reader = new PcapngReader({
        packets: 'runs',
        readableHighWaterMark: 4,
        ...(options.maxBlockBytes === undefined ? {} : { maxBlockBytes: options.maxBlockBytes }),
      });
      const state: InputState = {
        index,
        label: input.label ?? `input ${index}`,
        source: input.source,
        reader,
        map: [],
        queue: [],
        bufferedBytes: 0,
        bufferedPackets: 0,
        hasHead: false,
        headHi: 0,
        headLo: 0,
        closed: false,
        sawBlocks: false,
        lastActivity: started,
        lastBytesIn: 0,
      };
      reader.on('readable', () => this.pump());
      reader.on('end', () => {
        state.closed = true;
        this.pump();
      });
      pipeline(input.source, reader, (err) => {
        if (err) this.failInput(state, err);
      });
      return state;
    });
  }

  /** A snapshot of the counters. */
  get stats(): MergeStats {
    return { ...this.counters, interfaces: this.outTsresol.length };
  }

  override _read(): void {
    this.wantData = true;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.finished = true;
    this.clearTimer();
    for (const input of this.inputs) {
      input.closed = true;
      input.source.destroy();
      input.reader.destroy();
    }
    callback(error);
  }

  private pump(): void {
    if (this.finished) return;
    if (this.pumping) {
      // Called back from inside a pump (a synchronous stream event): run once more when the outer pass ends.
      this.repump = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.repump = false;
        this.pumpOnce();
      } while (this.repump && !this.finished);
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    if (!this.headerWritten) {
      this.headerWritten = true;
      this.emitBytes(encodeSectionHeader(this.section));
    }
    let progressed = false;
    this.refill = true;
    while (this.wantData && !this.finished) {
      if (this.refill) {
        this.refill = false;
        this.readInputs();
      }
      // An input left half-read because the output filled up must not look empty (or idle) to release().
      if (!this.wantData) break;
      progressed = this.release();
      if (!progressed) break;
    }
    this.flushOutput();
    if (this.inputs.every((i) => i.closed && i.queue.length === 0)) {
      this.finished = true;
      this.clearTimer();
      this.push(null);
      return;
    }
    if (!progressed && this.wantData) this.scheduleIdleCheck();
  }

  private readInputs(): void {
    const now = this.now();
    this.passNow = now;
    for (const input of this.inputs) {
      this.noteActivity(input, now);
      while (
        !input.closed &&
        this.wantData &&
        input.bufferedBytes < this.maxBytes &&
        input.bufferedPackets < this.maxPackets
      ) {
        const event = input.reader.read() as PcapngEvent | null;
        if (event === null) break;
        input.lastActivity = now;
        input.sawBlocks = true;
        this.accept(input, event);
      }
    }
  }

  private noteActivity(input: InputState, now: number): void {
    const bytesIn = input.reader.bytesIn;
    if (bytesIn !== input.lastBytesIn) {
      input.lastBytesIn = bytesIn;
      input.lastActivity = now;
    }
  }

  private accept(input: InputState, event: PcapngEvent): void {
    switch (event.type) {
      case 'section':
        input.map = [];
        return;
      case 'interface': {
        const outId = this.outTsresol.length;
        this.outTsresol.push(event.tsresol);
        input.map[event.interfaceId] = outId;
        this.emitBytes(this.reencodeInterface(input, event));
        return;
      }
      case 'packets':
        this.enqueueRun(input, event.data, event.count);
        return;
      case 'statistics': {
        const outId = input.map[event.interfaceId];
        if (outId === undefined) return;
        const block = Buffer.from(event.block);
        block.writeUInt32LE(outId, 8);
        this.enqueueBlock(input, block);
        return;
      }
      case 'message':
        this.enqueueBlock(input, event.block);
        return;
      case 'packet':
      case 'simplePacket':
        this.counters.droppedSimplePackets++;
        return;
    }
  }

  private reencodeInterface(input: InputState, event: PcapngInterfaceEvent): Buffer {
    const rewritten = new Set<number>([
      CommonOption.COMMENT,
      IdbOption.NAME,
      IdbOption.DESCRIPTION,
      IdbOption.TSRESOL,
    ]);
    const baseName = event.name ?? `if${event.interfaceId}`;
    const name = this.prefixNames ? `${input.label}/${baseName}` : event.name;
    const description = event.description ?? (this.prefixNames ? input.label : undefined);
    return encodeInterfaceDescription({
      linkType: event.linkType,
      snaplen: event.snaplen,
      tsresol: event.tsresol,
      ...(name === undefined ? {} : { name }),
      ...(description === undefined ? {} : { description }),
      comments: event.comments,
      extraOptions: event.options.filter((o) => !rewritten.has(o.code)),
    });
  }

  private enqueueRun(input: InputState, data: Buffer, count: number): void {
    const map = input.map;
    // DataView reads are single loads once optimised; Buffer#readUInt32LE validates its offset on every call.
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let off = 0; off < data.length; off += view.getUint32(off + 4, true)) {
      const outId = map[view.getUint32(off + 8, true)];
      if (outId === undefined) throw new RangeError(`input ${input.label}: packet for an unknown interface`);
      view.setUint32(off + 8, outId, true);
      this.keyAt(view, off);
      if (this.keyHi > this.maxSeenHi || (this.keyHi === this.maxSeenHi && this.keyLo > this.maxSeenLo)) {
        this.maxSeenHi = this.keyHi;
        this.maxSeenLo = this.keyLo;
      }
    }
    this.updateWindow();
    input.queue.push({ kind: 'run', data, view, off: 0, remaining: count });
    input.bufferedBytes += data.length;
    input.bufferedPackets += count;
    if (input.queue.length === 1) this.updateHead(input);
  }

  private enqueueBlock(input: InputState, block: Buffer): void {
    if (input.queue.length === 0) this.emitBytes(block);
    else input.queue.push({ kind: 'block', data: block });
  }

  /** Sets keyHi/keyLo to the packet's timestamp in ns (32-bit halves) from its (output) interface resolution. */
  private keyAt(view: DataView, off: number): void {
    const tsresol = this.outTsresol[view.getUint32(off + 8, true)] ?? TSRESOL_NS;
    const high = view.getUint32(off + 12, true);
    const low = view.getUint32(off + 16, true);
    if (tsresol === TSRESOL_NS) {
      this.keyHi = high;
      this.keyLo = low;
    } else {
      const ns = unitsToNs(joinTimestamp(high, low), tsresol);
      this.keyHi = Number(ns >> 32n);
      this.keyLo = Number(ns & 0xffff_ffffn);
    }
  }

  private updateWindow(): void {
    if (this.windowNs === null || this.maxSeenHi < 0) return;
    const limit = joinTimestamp(this.maxSeenHi, this.maxSeenLo) - this.windowNs;
    if (limit < 0n) return;
    this.windowHi = Number(limit >> 32n);
    this.windowLo = Number(limit & 0xffff_ffffn);
  }

  private updateHead(input: InputState): void {
    const first = input.queue[0];
    if (first?.kind === 'run') {
      this.keyAt(first.view, first.off);
      input.hasHead = true;
      input.headHi = this.keyHi;
      input.headLo = this.keyLo;
    } else {
      input.hasHead = false;
    }
  }

  /**
   * One release step; true if anything was written. One pass over the inputs writes the blocks waiting at their
   * heads and finds the oldest head (the candidate) and the oldest of the others (the bound), which with
   * interleaved inputs is done once for every packet or two.
   */
  private release(): boolean {
    let progressed = false;
    let cand: InputState | undefined;
    let boundHi = Infinity;
    let boundLo = Infinity;
    let blocked = false;
    let full = false;
    const now = this.passNow;
    for (const input of this.inputs) {
      let first = input.queue[0];
      if (first?.kind === 'block') {
        while (first?.kind === 'block') {
          input.queue.shift();
          this.emitBytes(first.data);
          progressed = true;
          first = input.queue[0];
        }
        if (first === undefined) this.refill = true;
        this.updateHead(input);
      }
      if (input.bufferedBytes >= this.maxBytes || input.bufferedPackets >= this.maxPackets) full = true;
      if (input.hasHead) {
        const hi = input.headHi;
        const lo = input.headLo;
        if (cand === undefined || hi < cand.headHi || (hi === cand.headHi && lo < cand.headLo)) {
          if (cand !== undefined) {
            boundHi = cand.headHi;
            boundLo = cand.headLo;
          }
          cand = input;
        } else if (hi < boundHi || (hi === boundHi && lo < boundLo)) {
          boundHi = hi;
          boundLo = lo;
        }
      } else if (!input.closed && now - input.lastActivity < this.idleMs) {
        blocked = true;
      }
    }
    if (cand === undefined) return progressed;
    if (blocked && !full) {
      if (this.windowHi < 0) return progressed;
      if (this.windowHi < boundHi || (this.windowHi === boundHi && this.windowLo < boundLo)) {
        boundHi = this.windowHi;
        boundLo = this.windowLo;
      }
      if (cand.headHi > boundHi || (cand.headHi === boundHi && cand.headLo > boundLo)) return progressed;
    }
    this.releaseFrom(cand, boundHi, boundLo, blocked);
    return true;
  }

  /** Writes packets from the head run of `input` while their timestamps are ≤ the bound (at least one). */
  private releaseFrom(input: InputState, boundHi: number, boundLo: number, forced: boolean): void {
    const run = input.queue[0];
    if (run?.kind !== 'run') return;
    const data = run.data;
    const view = run.view;
    const start = run.off;
    let off = start;
    let released = 0;
    while (run.remaining > 0) {
      this.keyAt(view, off);
      const hi = this.keyHi;
      const lo = this.keyLo;
      if (released > 0 && (hi > boundHi || (hi === boundHi && lo > boundLo))) break;
      if (hi < this.lastHi || (hi === this.lastHi && lo < this.lastLo)) {
        this.counters.latePackets++;
      } else {
        this.lastHi = hi;
        this.lastLo = lo;
      }
      off += view.getUint32(off + 4, true);
      run.remaining--;
      released++;
    }
    run.off = off;
    this.emitRange(data, start, off);
    if (input.bufferedBytes >= this.maxBytes || input.bufferedPackets >= this.maxPackets) this.refill = true;
    input.bufferedBytes -= off - start;
    input.bufferedPackets -= released;
    this.counters.packets += released;
    if (forced) this.counters.forcedPackets += released;
    if (run.remaining === 0) input.queue.shift();
    if (input.queue.length === 0) this.refill = true;
    this.updateHead(input);
  }

  private failInput(input: InputState, err: Error): void {
    if (input.closed || this.finished) return;
    input.closed = true;
    this.counters.failedInputs++;
    const message: ControlMessage = {
      type: input.sawBlocks || input.reader.bytesIn > 0 ? 'CONNECTION_ERROR' : 'INSTANCE_UNAVAILABLE',
      origin: this.origin,
      message: `${input.label}: ${err.message}`,
      timestampNs: nowNs(),
      fields: { input: input.label },
    };
    input.queue.push({ kind: 'block', data: encodeControlMessage(message) });
    this.pump();
  }

  /** When packets wait only for inputs that are not idle yet, wake up at the earliest idle deadline. */
  private scheduleIdleCheck(): void {
    if (!this.inputs.some((i) => i.hasHead)) return;
    const now = this.now();
    let at = Infinity;
    for (const input of this.inputs) {
      const deadline = input.lastActivity + this.idleMs;
      if (!input.closed && !input.hasHead && deadline > now) at = Math.min(at, deadline);
    }
    if (!Number.isFinite(at)) return;
    if (this.timer !== undefined && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, at - this.now() + 1),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private emitBytes(block: Buffer): void {
    this.emitRange(block, 0, block.length);
  }

  /** Appends bytes to the output: small ones are copied into a shared chunk, large ones pushed as views. */
  private emitRange(data: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length === 0) return;
    if (length > INLINE_COPY_LIMIT) {
      this.flushOutput();
      this.pushChunk(data.subarray(start, end));
      return;
    }
    if (this.out === undefined || this.outPos + length > this.out.length) {
      this.flushOutput();
      this.out = Buffer.allocUnsafe(this.chunkBytes);
      this.outStart = 0;
      this.outPos = 0;
    }
    data.copy(this.out, this.outPos, start, end);
    this.outPos += length;
  }

  private flushOutput(): void {
    if (this.out === undefined || this.outPos === this.outStart) return;
    const chunk = this.out.subarray(this.outStart, this.outPos);
    this.outStart = this.outPos;
    this.pushChunk(chunk);
  }

  private pushChunk(chunk: Buffer): void {
    if (!this.push(chunk)) this.wantData = false;
  }
}

/** Convenience: merges `inputs` into one pcapng Readable; see {@link PcapngMerge}. */
export function mergePcapng(inputs: readonly MergeInput[], options?: PcapngMergeOptions): PcapngMerge {
  return new PcapngMerge(inputs, options);
}
