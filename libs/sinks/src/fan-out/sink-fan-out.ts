import { Writable } from 'node:stream';

import type { SinkHandle } from '../sink.contract';
import { SinkFailedError } from '../sink.errors';

export interface SinkFanOutOptions {
  /** A sink failed or went away; it is detached and gets nothing more. Called once per sink. */
  readonly onSinkFailed: (handle: SinkHandle, error: Error) => void;
}

/**
 * Delivers one capture's pcapng to several sinks: every chunk to every attached sink, in order. Backpressure is
 * the slowest blocking sink's (lossy sinks never hold it back). A sink whose input fails or closes early, or whose
 * `finished()` rejects, is detached and reported; the others go on with the same, complete stream, so a failing
 * sink never corrupts another. Ending the fan-out ends every attached input; destroying it destroys them.
 */
export class SinkFanOut extends Writable {
  private readonly attached = new Set<SinkHandle>();
  private readonly waiting = new Map<SinkHandle, () => void>();
  private closingInputs = false;

  constructor(
    handles: readonly SinkHandle[],
    private readonly options: SinkFanOutOptions,
  ) {
    super({ highWaterMark: 64 * 1024 });
    for (const handle of handles) {
      this.attached.add(handle);
      handle.input.on('error', (err: Error) => this.detach(handle, err));
      handle.input.once('close', () => {
        if (!this.closingInputs) {
          this.detach(
            handle,
            new SinkFailedError(handle.name, `sink '${handle.name}' closed before the end of the capture`),
          );
        }
      });
      handle
        .finished()
        .catch((err: unknown) => this.detach(handle, err instanceof Error ? err : new Error(String(err))));
    }
  }

  /** Sinks still receiving the stream. */
  get sinks(): readonly SinkHandle[] {
    return [...this.attached];
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const slow: Array<Promise<void>> = [];
    for (const handle of this.attached) {
      if (handle.input.write(chunk)) continue;
      slow.push(
        new Promise<void>((resolve) => {
          const release = (): void => {
            handle.input.off('drain', release);
            this.waiting.delete(handle);
            resolve();
          };
          this.waiting.set(handle, release);
          handle.input.on('drain', release);
        }),
      );
    }
    if (slow.length === 0) callback();
    else void Promise.all(slow).then(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closingInputs = true;
    for (const handle of this.attached) handle.input.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // After a normal end (autoDestroy follows 'finish') the inputs finish on their own.
    const aborted = error !== null || !this.closingInputs;
    this.closingInputs = true;
    if (aborted) for (const handle of this.attached) handle.input.destroy();
    for (const release of [...this.waiting.values()]) release();
    callback(error);
  }

  private detach(handle: SinkHandle, error: Error): void {
    if (!this.attached.delete(handle)) return;
    this.waiting.get(handle)?.();
    if (!handle.input.destroyed) handle.input.destroy();
    this.options.onSinkFailed(handle, error);
  }
}
