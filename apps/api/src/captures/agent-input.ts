import type { ClientHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';

import {
  type ControlMessageFields,
  encodeControlMessage,
  encodeSectionHeader,
  type GcPacer,
  nowNs,
} from '@pcap/capture';

const SECTION_HEADER_BLOCK = 0x0a0d0d0a;
/** A block longer than this from an agent is treated as a broken stream. */
const MAX_BLOCK_BYTES = 16 << 20;
/**
 * HTTP/2 hands over one DATA frame (≤ 16 KiB) at a time. Frames that arrive together are passed on as one chunk
 * (at the end of the event-loop turn, or once this many bytes wait), so each stage after this one (parser, merge,
 * sinks, client) handles a few large chunks instead of many small ones.
 */
const COALESCE_BYTES = 256 * 1024;

/** What the merge should say about this input if its agent goes away before ending the stream. */
export interface AgentInputOptions {
  /** `origin` of the message, e.g. `api`. */
  readonly origin: string;
  /** Who this input is, e.g. `instance 1 (web, cell 10.0.0.7)`. */
  readonly describe: string;
  /** Fields of the INSTANCE_UNAVAILABLE message (which instance). */
  readonly fields: ControlMessageFields;
  /** Called once when the agent's stream ended early (after the message was queued). */
  readonly onLost?: (reason: string) => void;
  /** Told of every chunk's bytes (shared by all captures). */
  readonly gcPacer?: GcPacer;
}

/**
 * The pcapng body of one agent, made safe to merge:
 *  - only whole blocks are passed on, so an agent that dies mid-block never leaves a torn block in the output;
 *  - when the HTTP/2 stream closes without ending (agent killed, connection lost), an INSTANCE_UNAVAILABLE message
 *    is appended and this input ends cleanly, so the merge goes on with the others.
 *
 * Backpressure: the HTTP/2 stream is paused while this Readable is over its highWaterMark (HTTP/2 flow control then
 * holds the agent back). Destroying this Readable cancels the HTTP/2 stream, which aborts the agent's capture.
 */
export class AgentInput extends Readable {
  private pending: Buffer = Buffer.alloc(0);
  /** Chunks received in this event-loop turn, not yet looked at. */
  private incoming: Buffer[] = [];
  private incomingBytes = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  private sawSection = false;
  private ended = false;

  constructor(
    private readonly stream: ClientHttp2Stream,
    private readonly options: AgentInputOptions,
  ) {
    super({ highWaterMark: 256 * 1024 });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // When the agent's connection dies, the stream is reset (rstCode ≠ 0) yet may still emit 'end'.
    stream.once('aborted', () => this.finish('the connection to the agent was lost'));
    stream.once('end', () => {
      const code = stream.rstCode ?? 0;
      this.finish(code === 0 ? undefined : `the connection to the agent was lost (HTTP/2 code ${code})`);
    });
    stream.once('error', (err: Error) => this.finish(err.message));
    stream.once('close', () =>
      this.finish(`the connection to the agent closed (code ${stream.rstCode ?? 0})`),
    );
  }

  override _read(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.ended = true;
    clearImmediate(this.flushScheduled);
    this.incoming = [];
    if (!this.stream.closed) this.stream.destroy();
    callback(error);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.options.gcPacer?.account(chunk.length);
    this.incoming.push(chunk);
    this.incomingBytes += chunk.length;
    if (this.incomingBytes >= COALESCE_BYTES) this.flushIncoming();
    else this.flushScheduled ??= setImmediate(() => this.flushIncoming());
  }

  /** Passes on the whole blocks of what was received; keeps a block's beginning until the rest arrives. */
  private flushIncoming(): void {
    clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    if (this.ended || this.incomingBytes === 0) return;
    const parts = this.pending.length === 0 ? this.incoming : [this.pending, ...this.incoming];
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.incoming = [];
    this.incomingBytes = 0;
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off + 8 <= data.length) {
      const length = view.getUint32(off + 4, true);
      if (length < 12 || length % 4 !== 0 || length > MAX_BLOCK_BYTES) {
        this.finish(`the agent sent a malformed block (length ${length})`);
        return;
      }
      if (off + length > data.length) break;
      if (view.getUint32(off, true) === SECTION_HEADER_BLOCK) this.sawSection = true;
      off += length;
    }
    this.pending = off < data.length ? Buffer.from(data.subarray(off)) : Buffer.alloc(0);
    if (off > 0 && !this.push(data.subarray(0, off))) this.stream.pause();
  }

  /** `why` undefined = the agent ended its stream normally. */
  private finish(why: string | undefined): void {
    if (this.ended) return;
    this.flushIncoming(); // what arrived before the end; may itself finish (a malformed block)
    if (this.ended) return;
    this.ended = true;
    if (why !== undefined) {
      const message = encodeControlMessage({
        type: 'INSTANCE_UNAVAILABLE',
        origin: this.options.origin,
        message: `${this.options.describe}: capture lost: ${why}`,
        timestampNs: nowNs(),
        fields: this.options.fields,
      });
      // A torn block is dropped; a stream that never sent its section header gets one so the message is valid.
      if (!this.sawSection) this.push(encodeSectionHeader({}));
      this.push(message);
      this.options.onLost?.(why);
    }
    this.pending = Buffer.alloc(0);
    this.push(null);
  }
}
