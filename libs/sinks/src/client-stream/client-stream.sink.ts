import { PassThrough } from 'node:stream';

import { Injectable } from '@nestjs/common';
import type { ControlMessage } from '@pcap/capture';

import type { CaptureRef, SinkConfig, SinkFactory, SinkHandle } from '../sink.contract';
import { ClientGoneError } from '../sink.errors';
import { ClientStream, type ClientStreamOptions, type ClientStreamStats } from './client-stream';

/** The live client stream of one request: not operator-configured, built per capture from the request. */
export interface ClientStreamSinkConfig extends SinkConfig, ClientStreamOptions {
  readonly kind: 'client-stream';
}

/**
 * The HTTP response as a sink (`kind: client-stream`). Lossy: `input` is read as fast as it is written and packet
 * runs wait in a bounded queue for the client; above the high watermark they are discarded and counted
 * ({@link ClientStream}). `input` therefore never holds the capture back: one slow client never stalls other sinks.
 */
@Injectable()
export class ClientStreamSinkFactory implements SinkFactory<ClientStreamSinkConfig> {
  readonly kind = 'client-stream';

  open(_capture: CaptureRef, config: ClientStreamSinkConfig): Promise<ClientStreamSinkHandle> {
    return Promise.resolve(new ClientStreamSinkHandle(config));
  }

  check(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * `output` is what the client reads (give it to the HTTP reply). `finished()` resolves once the client has read
 * the whole stream and rejects with ClientGoneError when the output was closed before its end (the client went
 * away); destroying `output` also destroys `input`.
 */
export class ClientStreamSinkHandle implements SinkHandle {
  readonly kind = 'client-stream';
  readonly input = new PassThrough({ highWaterMark: 64 * 1024 });
  readonly output: ClientStream;
  private readonly settled: Promise<void>;

  constructor(private readonly config: ClientStreamSinkConfig) {
    this.output = new ClientStream(this.input, config);
    this.settled = new Promise<void>((resolve, reject) => {
      this.output.once('close', () => {
        if (this.output.readableEnded) resolve();
        else reject(new ClientGoneError(config.name, 'the client went away before the end of the capture'));
      });
    });
    this.settled.catch(() => undefined);
  }

  get name(): string {
    return this.config.name;
  }

  finished(): Promise<void> {
    return this.settled;
  }

  get stats(): ClientStreamStats {
    return this.output.stats;
  }

  /** Adds an API message to the client's stream (never discarded). */
  message(message: ControlMessage): void {
    this.output.message(message);
  }
}
