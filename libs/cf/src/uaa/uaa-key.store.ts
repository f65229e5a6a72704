import { type KeyObject } from 'node:crypto';

import { CfUnavailableError } from '../errors/cf.error';
import { type UaaClient, type UaaVerificationKey } from './uaa.client';

export interface UaaKeyStoreOptions {
  /**
   * Least time between two refetches of `/token_keys` triggered by an unknown `kid` or a failed signature
   * (ms, default 30 000). Bounds what a flood of forged tokens can cost UAA: at most one fetch per interval.
   */
  readonly refetchIntervalMs?: number;
  /** After a failed fetch, wait this long before trying again (ms, default 1 000). */
  readonly failureBackoffMs?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  readonly clock?: () => number;
}

/**
 * The verification keys of the configured UAA, cached by `kid`. Loaded on first use; refetched only through
 * {@link UaaKeyStore.refetch}, which is rate-limited and coalesces concurrent callers into one request.
 * Keys never come from a token's `jku`.
 */
export class UaaKeyStore {
  private keys: readonly UaaVerificationKey[] | undefined;
  private inFlight: Promise<void> | undefined;
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private fetches = 0;
  private readonly refetchIntervalMs: number;
  private readonly failureBackoffMs: number;
  private readonly clock: () => number;

  constructor(
    private readonly uaa: UaaClient,
    options: UaaKeyStoreOptions = {},
  ) {
    this.refetchIntervalMs = options.refetchIntervalMs ?? 30_000;
    this.failureBackoffMs = options.failureBackoffMs ?? 1_000;
    this.clock = options.clock ?? Date.now;
  }

  /** How many times `/token_keys` was fetched (for metrics and tests). */
  get fetchCount(): number {
    return this.fetches;
  }

  /**
   * Candidate keys for a token: the key with this `kid`, or every key when the token names none (old UAAs).
   * Loads the keys on first use. Rejects with CfUnavailableError when UAA cannot be reached.
   */
  async candidates(kid: string | undefined): Promise<KeyObject[]> {
    if (this.keys === undefined) await this.load();
    return this.pick(kid);
  }

  /**
   * Refetch `/token_keys` unless that happened less than `refetchIntervalMs` ago. Resolves `true` when fresh
   * keys were fetched (so a retry can make a difference), `false` when rate-limited.
   */
  async refetch(): Promise<boolean> {
    if (this.inFlight !== undefined) {
      await this.inFlight;
      return true;
    }
    if (this.clock() - this.lastFetchAt < this.refetchIntervalMs) return false;
    await this.load();
    return true;
  }

  private pick(kid: string | undefined): KeyObject[] {
    const keys = this.keys ?? [];
    return keys.filter((k) => kid === undefined || k.kid === kid).map((k) => k.key);
  }

  private load(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (this.clock() - this.lastFailureAt < this.failureBackoffMs && this.keys === undefined) {
      // UAA just failed: answer from the failure instead of sending every waiting request to UAA again.
      return this.uaaDown();
    }
    this.fetches += 1;
    this.lastFetchAt = this.clock();
    this.inFlight = this.uaa
      .fetchTokenKeys()
      .then((keys) => {
        this.keys = keys;
      })
      .catch((err: unknown) => {
        this.lastFailureAt = this.clock();
        throw err;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private uaaDown(): Promise<void> {
    return Promise.reject(
      new CfUnavailableError(
        'UAA',
        `UAA at ${this.uaa.url} is unavailable: its token keys could not be fetched`,
      ),
    );
  }
}
