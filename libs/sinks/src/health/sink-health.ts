import type { SinkConfig } from '../sink.contract';
import { SinkFailedError } from '../sink.errors';
import type { SinkRegistry } from '../sink.registry';

/** The state of one configured sink as its last check found it. */
export interface SinkState {
  readonly name: string;
  readonly kind: string;
  readonly status: 'ok' | 'error';
  /** Why the sink is not usable (the SinkError's message); absent when `status` is ok. */
  readonly reason?: string;
  /** When the check that produced this state started. */
  readonly checkedAt: Date;
  /** How long that check took (at most the timeout). */
  readonly durationMs: number;
}

export interface SinkHealthOptions {
  /** A check that has not answered after this long is aborted and reported as an error. */
  readonly timeoutMs: number;
  /** A state is reused for this long after its check ended before the sink is checked again. */
  readonly cacheMs: number;
  /** Called with every new state (the availability gauge hooks in). */
  readonly onState?: (state: SinkState) => void;
  /**
   * Called when a sink's status or reason differs from its previous state, and for a first state that is an error
   * (so a log line is written once per change, not once per check).
   */
  readonly onChange?: (state: SinkState, previous: SinkState | undefined) => void;
}

interface Entry {
  state?: SinkState;
  /** Until when `state` is reused: `cacheMs` after its check ended (a slow check is not repeated at once). */
  freshUntil: number;
  /** The check in flight, shared by every caller that asks meanwhile. */
  running?: Promise<SinkState>;
}

/**
 * Health of the configured storage sinks, from each factory's `check()`: at most one check per sink at a time,
 * each bounded by `timeoutMs` (then its request is aborted through the AbortSignal and the sink reported as an
 * error), and each result cached for `cacheMs` after the check ended. So asking is cheap and never waits longer than the timeout, even
 * when a destination hangs. Unexpected errors from a factory (not SinkFailedError) are reported the same way, with
 * their message: a health answer must not throw.
 */
export class SinkHealth {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly registry: SinkRegistry,
    private readonly sinks: readonly SinkConfig[],
    private readonly options: SinkHealthOptions,
  ) {
    for (const sink of sinks) this.entries.set(sink.name, { freshUntil: 0 });
  }

  /** The state of every configured sink (in configuration order), checking those whose state is older than the cache. */
  states(): Promise<SinkState[]> {
    return Promise.all(this.sinks.map((sink) => this.state(sink)));
  }

  private state(config: SinkConfig): Promise<SinkState> {
    const entry = this.entries.get(config.name)!;
    const cached = entry.state;
    if (cached !== undefined && Date.now() < entry.freshUntil) return Promise.resolve(cached);
    entry.running ??= this.check(config).then((state) => {
      const previous = entry.state;
      entry.state = state;
      entry.freshUntil = Date.now() + this.options.cacheMs;
      entry.running = undefined;
      this.options.onState?.(state);
      if (previous === undefined ? state.status !== 'ok' : changed(previous, state)) {
        this.options.onChange?.(state, previous);
      }
      return state;
    });
    return entry.running;
  }

  private async check(config: SinkConfig): Promise<SinkState> {
    const checkedAt = new Date();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const err = new SinkFailedError(
          config.name,
          `no answer within ${this.options.timeoutMs} ms (check aborted)`,
        );
        abort.abort(err);
        reject(err);
      }, this.options.timeoutMs);
    });
    const base = { name: config.name, kind: config.kind, checkedAt };
    try {
      await Promise.race([this.registry.check(config, abort.signal), timedOut]);
      return { ...base, status: 'ok', durationMs: Date.now() - checkedAt.getTime() };
    } catch (err) {
      return {
        ...base,
        status: 'error',
        reason: err instanceof Error ? err.message || err.name : String(err),
        durationMs: Date.now() - checkedAt.getTime(),
      };
    } finally {
      clearTimeout(timer);
    }
  }
}

function changed(a: SinkState, b: SinkState): boolean {
  return a.status !== b.status || a.reason !== b.reason;
}
