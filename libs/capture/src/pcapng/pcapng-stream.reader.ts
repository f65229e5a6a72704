import { ChunkParserTransform, parseChunks } from '../stream/chunk-parser.stream';
import {
  PcapngBlockParser,
  type PcapngEvent,
  type PcapngParserOptions,
  type ReadInterface,
} from './pcapng-block.parser';

export interface PcapngReaderOptions extends PcapngParserOptions {
  /** Events buffered on the readable side before backpressure reaches the writer. Default 64. */
  readonly readableHighWaterMark?: number;
}

/**
 * A Transform from pcapng bytes (any chunking) to {@link PcapngEvent} objects, for `pipeline()` and
 * `for await`. Backpressure flows through: when the consumer stops reading, at most one chunk's events wait
 * on the readable side and the writer is held. Malformed input, a block above `maxBlockBytes` or a stream
 * ending inside a block destroy the reader with a CaptureFormatError.
 */
export class PcapngReader extends ChunkParserTransform<PcapngEvent, PcapngBlockParser> {
  constructor(options: PcapngReaderOptions = {}) {
    super((emit) => new PcapngBlockParser(emit, options), options.readableHighWaterMark ?? 64);
  }

  /** Bytes received so far (a cheap activity indicator). */
  get bytesIn(): number {
    return this.parser.bytesIn;
  }

  /** Blocks skipped as unknown or not ours. */
  get skippedBlocks(): number {
    return this.parser.skippedBlocks;
  }

  /** Interfaces of the current section. */
  get interfaces(): readonly ReadInterface[] {
    return this.parser.interfaces;
  }
}

/**
 * Reads pcapng events from any async iterable of byte chunks (a Readable, a socket, an array in tests) without
 * building a stream: each chunk's events are yielded before the next chunk is pulled.
 * @throws CaptureFormatError as the PcapngBlockParser does.
 */
export function readPcapng(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  options: PcapngParserOptions = {},
): AsyncGenerator<PcapngEvent> {
  return parseChunks<PcapngEvent>(source, (emit) => new PcapngBlockParser(emit, options));
}
