import { Writable } from 'node:stream';

import { Injectable } from '@nestjs/common';
import { PcapngBlockParser, type PcapngEvent } from '@pcap/capture';

import type { CaptureRef, SinkConfig, SinkFactory, SinkHandle } from '../sink.contract';
import { SinkAbortedError, SinkFailedError } from '../sink.errors';
import type { CaptureMetrics } from './capture-metrics';

/** `kind: metrics`: counts what passes through into the process's CaptureMetrics. */
export interface MetricsSinkConfig extends SinkConfig {
  readonly kind: 'metrics';
  readonly metrics: CaptureMetrics;
}

/** Totals one metrics handle has counted. */
export interface MetricsTotals {
  readonly packets: number;
  readonly bytes: number;
  readonly kernelDrops: bigint;
  readonly discarded: bigint;
}

/**
 * The Prometheus sink: not a byte store but a meter. It parses the capture's pcapng as it passes and adds to the
 * process's counters: packets and captured bytes (Enhanced Packet Blocks), kernel drops and upstream discards
 * (Interface Statistics Blocks: isb_ifdrop, isb_osdrop). Its "destination" is that accounting: input that is not
 * pcapng, or that ends inside a block, makes `finished()` reject. Counting is synchronous and keeps nothing but an
 * incomplete block, so it never holds the capture back and its memory is bounded by one block.
 */
@Injectable()
export class MetricsSinkFactory implements SinkFactory<MetricsSinkConfig> {
  readonly kind = 'metrics';

  open(capture: CaptureRef, config: MetricsSinkConfig): Promise<MetricsSinkHandle> {
    return Promise.resolve(new MetricsSinkHandle(capture, config));
  }

  check(): Promise<void> {
    return Promise.resolve();
  }
}

export class MetricsSinkHandle implements SinkHandle {
  readonly kind = 'metrics';
  readonly input: Writable;
  private readonly parser: PcapngBlockParser;
  private readonly settled: Promise<void>;
  private readonly labels: Record<string, string>;
  private packets = 0;
  private bytes = 0;
  private kernelDrops = 0n;
  private discarded = 0n;
  private ended = false;

  constructor(
    capture: CaptureRef,
    private readonly config: MetricsSinkConfig,
  ) {
    this.labels = config.metrics.labels(capture);
    this.parser = new PcapngBlockParser((e) => this.count(e), { packets: 'runs' });
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    this.settled = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.settled.catch(() => undefined);
    this.input = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        try {
          this.parser.push(chunk);
          callback();
        } catch (err) {
          callback(this.failure(err));
        }
      },
      final: (callback) => {
        try {
          this.parser.end();
          this.ended = true;
          callback();
        } catch (err) {
          callback(this.failure(err));
        }
      },
      destroy: (error, callback) => {
        if (this.ended && error === null) resolve();
        else reject(error ?? new SinkAbortedError(this.name, 'the capture was aborted before its end'));
        callback(error);
      },
    });
  }

  get name(): string {
    return this.config.name;
  }

  get totals(): MetricsTotals {
    return {
      packets: this.packets,
      bytes: this.bytes,
      kernelDrops: this.kernelDrops,
      discarded: this.discarded,
    };
  }

  finished(): Promise<void> {
    return this.settled;
  }

  private count(event: PcapngEvent): void {
    const m = this.config.metrics;
    switch (event.type) {
      case 'packets': {
        let bytes = 0;
        const { data } = event;
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let off = 0; off < data.length; off += view.getUint32(off + 4, true)) {
          bytes += view.getUint32(off + 20, true);
        }
        this.packets += event.count;
        this.bytes += bytes;
        m.packets.inc(this.labels, event.count);
        m.bytes?.inc(this.labels, bytes);
        return;
      }
      case 'statistics': {
        const drop = event.ifDrop ?? 0n;
        const os = event.osDrop ?? 0n;
        this.kernelDrops += drop;
        this.discarded += os;
        if (drop > 0n) m.kernelDrops.inc(this.labels, Number(drop));
        if (os > 0n) m.discarded.inc({ ...this.labels, stage: 'agent' }, Number(os));
        return;
      }
      case 'packet':
        this.packets++;
        this.bytes += event.capturedLength;
        m.packets.inc(this.labels, 1);
        m.bytes?.inc(this.labels, event.capturedLength);
        return;
      case 'simplePacket':
        this.packets++;
        this.bytes += event.data.length;
        m.packets.inc(this.labels, 1);
        m.bytes?.inc(this.labels, event.data.length);
        return;
      case 'section':
      case 'interface':
      case 'message':
        return;
    }
  }

  private failure(err: unknown): SinkFailedError {
    return new SinkFailedError(
      this.name,
      `metrics sink '${this.name}': not a valid pcapng stream: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
