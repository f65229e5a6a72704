import { Transform, type TransformCallback } from 'node:stream';

/** A push parser over byte chunks of any size: it emits events through the callback it was built with. */
export interface ChunkParser {
  /** Consumes one chunk; throws on malformed input. */
  push(chunk: Buffer): void;
  /** Signals the end of input; throws if it ends inside a record. */
  end(): void;
}

type Chunk = Buffer | Uint8Array;

function asBuffer(chunk: Chunk): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * A Transform from bytes to the events of a {@link ChunkParser}, for `pipeline()` and `for await`.
 * Backpressure flows through: when the consumer stops reading, at most one chunk's events wait on the
 * readable side and the writer is held. A parser error destroys the stream with that error.
 */
export class ChunkParserTransform<E, P extends ChunkParser> extends Transform {
  protected readonly parser: P;

  constructor(makeParser: (emit: (event: E) => void) => P, readableHighWaterMark: number) {
    super({ readableObjectMode: true, readableHighWaterMark });
    this.parser = makeParser((event) => {
      this.push(event);
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.parser.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/**
 * The events of a {@link ChunkParser} over any (async) iterable of byte chunks, without building a stream:
 * each chunk's events are yielded before the next chunk is pulled.
 */
export async function* parseChunks<E>(
  source: AsyncIterable<Chunk> | Iterable<Chunk>,
  makeParser: (emit: (event: E) => void) => ChunkParser,
): AsyncGenerator<E> {
  const events: E[] = [];
  const parser = makeParser((event) => events.push(event));
  for await (const chunk of source) {
    parser.push(asBuffer(chunk));
    yield* events;
    events.length = 0;
  }
  parser.end();
}
