import { Inject, Injectable, Optional } from '@nestjs/common';

import {
  type CaptureRef,
  SINK_FACTORIES,
  type SinkConfig,
  type SinkFactory,
  type SinkHandle,
} from './sink.contract';
import { UnknownSinkKindError } from './sink.errors';

/**
 * Maps a sink `kind` to its factory (every factory bound to {@link SINK_FACTORIES}). Adding a sink is one factory
 * class and one entry in that list. Throws UnknownSinkKindError for a kind nobody registered.
 */
@Injectable()
export class SinkRegistry {
  private readonly byKind = new Map<string, SinkFactory>();

  constructor(@Optional() @Inject(SINK_FACTORIES) factories: readonly SinkFactory[] = []) {
    for (const f of factories) {
      if (this.byKind.has(f.kind)) throw new Error(`two sink factories for kind '${f.kind}'`);
      this.byKind.set(f.kind, f);
    }
  }

  get kinds(): readonly string[] {
    return [...this.byKind.keys()];
  }

  /** The factory of `kind`. @throws UnknownSinkKindError */
  factory<C extends SinkConfig>(kind: C['kind']): SinkFactory<C> {
    const f = this.byKind.get(kind);
    if (f === undefined) throw new UnknownSinkKindError(kind, this.kinds);
    // The factory registered under `kind` accepts that kind's config by construction.
    return f as unknown as SinkFactory<C>;
  }

  /** Opens a handle of `config.kind` for `capture`. @throws UnknownSinkKindError; rejects as the factory does. */
  open(capture: CaptureRef, config: SinkConfig): Promise<SinkHandle> {
    return this.factory(config.kind).open(capture, config);
  }

  /** Checks `config`'s destination as its factory does. @throws UnknownSinkKindError */
  check(config: SinkConfig, signal?: AbortSignal): Promise<void> {
    return this.factory(config.kind).check(config, signal);
  }
}
