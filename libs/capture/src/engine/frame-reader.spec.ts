/**
 * FrameReader on a real socket pair from the addon, with a stand-in for the worker process (its 'close' event):
 * frames cut anywhere across reads, pause holding what was read, the close reported only after every frame,
 * and a frame too large to be one of the worker's.
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { FrameReader, MAX_FRAME_BYTES } from './frame-reader';
import { nativeAddon } from './native-binding';

function frame(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

interface Harness {
  reader: FrameReader;
  worker: EventEmitter;
  frames: [number, Buffer][];
  closed: Promise<[number | null, NodeJS.Signals | null]>;
  /** Writes each piece separately, letting the reader take it before the next. */
  send(...pieces: Buffer[]): Promise<void>;
  endChannel(): Promise<void>;
}

describe('FrameReader', () => {
  const open: Harness[] = [];

  function harness(): Harness {
    const [readFd, writeFd] = nativeAddon().socketPair();
    const worker = new EventEmitter();
    const reader = new FrameReader(worker, readFd);
    const writer = new Socket({ fd: writeFd, readable: false, writable: true });
    const frames: [number, Buffer][] = [];
    reader.onFrame = (type, payload) => frames.push([type, payload]);
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      reader.onClose = (code, signal) => resolve([code, signal]);
    });
    const h: Harness = {
      reader,
      worker,
      frames,
      closed,
      async send(...pieces) {
        for (const piece of pieces) {
          if (!writer.write(piece)) await new Promise((r) => writer.once('drain', r));
          await delay(15);
        }
      },
      async endChannel() {
        await new Promise<void>((r) => writer.end(r));
      },
    };
    open.push(h);
    return h;
  }

  afterEach(() => {
    for (const h of open.splice(0)) h.reader.destroy();
  });

  it('reassembles frames cut anywhere, in the header or the payload, and copies each out of the read buffer', async () => {
    const h = harness();
    const big = pattern(700 * 1024, 7); // more than one read of the channel
    const bytes = Buffer.concat([
      frame(3, big),
      frame(4, pattern(48, 1)),
      frame(1, Buffer.alloc(0)),
      frame(2, pattern(9, 2)),
    ]);
    // cuts inside the first header, inside the big payload, between frames, inside the last header and payload
    const cuts = [3, 8, 100_000, big.length + 8, big.length + 8 + 5, bytes.length - 12, bytes.length - 4];
    let at = 0;
    const pieces: Buffer[] = [];
    for (const cut of [...cuts, bytes.length]) {
      pieces.push(bytes.subarray(at, cut));
      at = cut;
    }
    await h.send(...pieces);
    expect(h.frames.map(([t, p]) => [t, p.length])).toEqual([
      [3, big.length],
      [4, 48],
      [1, 0],
      [2, 9],
    ]);
    // checked after later reads reused the read buffer: each payload is a copy, not a view of it
    expect(h.frames[0]![1].equals(big)).toBe(true);
    expect(h.frames[1]![1].equals(pattern(48, 1))).toBe(true);
    expect(h.frames[3]![1].equals(pattern(9, 2))).toBe(true);
  });

  it('reads the rest of a large payload straight into its own Buffer, never past its end', async () => {
    const h = harness();
    const big = pattern(1024 * 1024 + 13, 5);
    // follows at once: a read must not carry its bytes into the big payload; too small to be read straight
    const next = pattern(9_000, 6);
    // the memory each read went into
    const internals = h.reader as unknown as { nextReadTarget(): Buffer };
    const target = internals.nextReadTarget.bind(h.reader);
    const targets: ArrayBufferLike[] = [];
    internals.nextReadTarget = () => {
      const memory = target();
      targets.push(memory.buffer);
      return memory;
    };
    await h.send(Buffer.concat([frame(3, big), frame(4, next)]));
    await delay(50);
    expect(h.frames.map(([t, p]) => [t, p.length])).toEqual([
      [3, big.length],
      [4, next.length],
    ]);
    expect(h.frames[0]![1].equals(big)).toBe(true);
    expect(h.frames[1]![1].equals(next)).toBe(true);
    expect(targets).toContain(h.frames[0]![1].buffer); // some reads went straight into the frame's memory
    expect(targets).not.toContain(h.frames[1]![1].buffer); // the small one is copied out of the read buffer
  });

  it('while paused delivers nothing; resume delivers what waits, in order; the close comes after the last frame', async () => {
    const h = harness();
    h.reader.onFrame = (type, payload) => {
      h.frames.push([type, payload]);
      if (type === 3) h.reader.pause(); // a full stream: the rest of the read must wait
    };
    await h.send(
      Buffer.concat([frame(3, pattern(10, 0)), frame(4, pattern(11, 0)), frame(5, pattern(12, 0))]),
    );
    await h.endChannel();
    h.worker.emit('close', 0, null);
    let closedEarly = false;
    void h.closed.then(() => (closedEarly = h.frames.length < 3));
    await delay(50);
    expect(h.frames.map(([t]) => t)).toEqual([3]);
    h.reader.resume();
    expect(h.frames.map(([t]) => t)).toEqual([3, 4, 5]);
    expect(await h.closed).toEqual([0, null]);
    expect(closedEarly).toBe(false);
  });

  it('reports the close only when both the worker has exited and its channel has ended', async () => {
    const h = harness();
    let closed = false;
    void h.closed.then(() => (closed = true));
    h.worker.emit('close', null, 'SIGSEGV');
    await delay(30);
    expect(closed).toBe(false); // frames may still be in the channel
    await h.send(frame(3, pattern(100, 3)));
    await h.endChannel();
    expect(await h.closed).toEqual([null, 'SIGSEGV']);
    expect(h.frames).toHaveLength(1);
  });

  it('a frame longer than any the worker sends breaks the channel instead of allocating it', async () => {
    const h = harness();
    const broken = new Promise<string>((resolve) => (h.reader.onBroken = resolve));
    const head = Buffer.alloc(8);
    head.writeUInt32LE(3, 0);
    head.writeUInt32LE(MAX_FRAME_BYTES + 1, 4);
    await h.send(head, pattern(64, 0));
    expect(await broken).toMatch(/a frame of \d+ bytes \(at most \d+\)/);
    expect(h.frames).toEqual([]);
  });
});
