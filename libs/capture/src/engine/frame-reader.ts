import type { EventEmitter } from 'node:events';
import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';

/** Type and length (u32 little-endian each) before every frame's payload (native/src/capture-worker.cc). */
const FRAME_HEADER = 8;
/**
 * What one read of the channel into the shared read buffer may take: headers, small frames, and the start of a
 * large frame's payload (copied out of it). The rest of a large payload is read straight into its own memory.
 */
const READ_BUFFER_BYTES = 64 * 1024;
/** A payload with at least this much still to come is read straight into its own memory, not into the read buffer. */
const DIRECT_READ_MIN = 16 * 1024;
/** The largest frame the worker sends: a batch of the largest maxBatchBytes, plus its count. */
export const MAX_FRAME_BYTES = (64 << 20) + 1024;

/** The worker process as far as the reader needs it: its 'close' event (exit code, signal). */
export type WorkerExit = Pick<EventEmitter, 'once'>;

/**
 * Reads the worker's channel and splits it into frames (type and length, then the payload). Headers and small
 * frames land in one reused read buffer, from which a payload is copied into a Buffer of its own size; once a large
 * payload has begun, the socket reads the rest of it straight into that Buffer (a batch of 1 MiB is then copied
 * once, by the kernel, instead of twice). While paused, no frame is delivered and the channel is not read (the
 * worker blocks once the socket is full); the frames of the read that was under way wait here. The close is
 * reported when the worker has exited and its channel has ended, after every frame was delivered.
 */
export class FrameReader {
  onFrame: (type: number, payload: Buffer) => void = () => undefined;
  onClose: (code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
  onBroken: (why: string) => void = () => undefined;

  private readonly socket: Socket;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFill = 0;
  private frameType = 0;
  private payload: Buffer | undefined;
  private payloadLength = 0;
  private payloadFill = 0;
  private readonly waiting: [number, Buffer][] = [];
  private paused = false;
  private broken = false;
  private channelEnded = false;
  private exited: [number | null, NodeJS.Signals | null] | undefined;
  private closeReported = false;

  constructor(worker: WorkerExit, fd: number) {
    // net.Socket takes `onread` in its constructor too (lib/net.js), though @types/node lists it for connect() only.
    // With a function as `buffer`, Node asks it for the memory of every next read, after the callback.
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd,
      readable: true,
      writable: false,
      onread: {
        buffer: () => this.nextReadTarget(),
        callback: (n: number, buffer: Uint8Array) => {
          if (buffer === this.readBuffer) this.consume(this.readBuffer, n);
          else this.filledDirectly(n);
          return !this.paused;
        },
      },
    };
    this.socket = new Socket(options);
    const ended = (): void => {
      this.channelEnded = true;
      this.maybeClose();
    };
    this.socket.once('end', ended);
    this.socket.once('error', ended); // a broken channel ends like a closed one; the exit status says why
    // 'close' comes after the worker's stderr has ended, so the crash message has all of it.
    worker.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      this.exited = [code, signal];
      this.maybeClose();
    });
  }

  /** Stops delivering frames and reading the channel. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Delivers the frames that wait until paused again; then reads on, or reports the close that came meanwhile. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    while (!this.paused && this.waiting.length > 0) {
      const [type, payload] = this.waiting.shift()!;
      this.onFrame(type, payload);
    }
    if (this.paused) return;
    this.socket.resume();
    this.maybeClose();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Where the next read goes: straight into the payload under way when much of it is still to come. */
  private nextReadTarget(): Buffer {
    const payload = this.payload;
    return payload !== undefined && !this.broken && this.payloadLength - this.payloadFill >= DIRECT_READ_MIN
      ? payload.subarray(this.payloadFill, this.payloadLength)
      : this.readBuffer;
  }

  /** A read of `n` bytes went straight into the payload under way (it cannot run past the payload's end). */
  private filledDirectly(n: number): void {
    this.payloadFill += n;
    if (this.payloadFill === this.payloadLength) this.completePayload();
  }

  private completePayload(): void {
    const payload = this.payload!;
    this.payload = undefined;
    if (this.paused || this.waiting.length > 0) this.waiting.push([this.frameType, payload]);
    else this.onFrame(this.frameType, payload);
  }

  private consume(data: Buffer, n: number): void {
    let at = 0;
    while (at < n && !this.broken) {
      if (this.payload === undefined) {
        const take = Math.min(FRAME_HEADER - this.headerFill, n - at);
        data.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill < FRAME_HEADER) return;
        this.headerFill = 0;
        this.frameType = this.header.readUInt32LE(0);
        const length = this.header.readUInt32LE(4);
        if (length > MAX_FRAME_BYTES) {
          this.broken = true;
          this.onBroken(`a frame of ${length} bytes (at most ${MAX_FRAME_BYTES})`);
          return;
        }
        this.payload = Buffer.allocUnsafe(length);
        this.payloadLength = length;
        this.payloadFill = 0;
      }
      const take = Math.min(this.payloadLength - this.payloadFill, n - at);
      data.copy(this.payload, this.payloadFill, at, at + take);
      this.payloadFill += take;
      at += take;
      if (this.payloadFill === this.payloadLength) this.completePayload();
    }
  }

  private maybeClose(): void {
    if (this.closeReported || !this.channelEnded || !this.exited) return;
    if (this.paused || this.waiting.length > 0) return;
    this.closeReported = true;
    this.socket.destroy();
    this.onClose(...this.exited);
  }
}
