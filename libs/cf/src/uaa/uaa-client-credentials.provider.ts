import { type HttpEndpointOptions } from '../http/json-http.client';
import { type SecretToken } from './secret-token';
import { UaaClient } from './uaa.client';

export interface UaaClientCredentialsOptions {
  /** The UAA (or login server) that issues the token. */
  readonly uaa: HttpEndpointOptions;
  readonly clientId: string;
  /** SECRET. Held in memory only, sent only as Basic auth to `uaa`. */
  readonly clientSecret: string;
  /** Fetch a new token this long before the cached one expires (seconds, default 60). */
  readonly refreshBeforeExpirySeconds?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  readonly clock?: () => number;
}

/**
 * The API's own identity at UAA (client-credentials grant), for work done without a user present, such as
 * scheduled captures. One token is cached and shared until shortly before it expires; concurrent callers during
 * a refresh share one request. Failures are not cached.
 */
export class UaaClientCredentialsProvider {
  private readonly uaa: UaaClient;
  private readonly refreshBeforeMs: number;
  private readonly clock: () => number;
  private cached: { token: SecretToken; renewAt: number } | undefined;
  private inFlight: Promise<SecretToken> | undefined;

  constructor(private readonly options: UaaClientCredentialsOptions) {
    this.uaa = new UaaClient(options.uaa);
    this.refreshBeforeMs = (options.refreshBeforeExpirySeconds ?? 60) * 1000;
    this.clock = options.clock ?? Date.now;
  }

  /** A valid access token. Rejects with CfAuthError (bad client credentials) or CfUnavailableError. */
  token(requestId?: string): Promise<SecretToken> {
    if (this.cached !== undefined && this.clock() < this.cached.renewAt)
      return Promise.resolve(this.cached.token);
    this.inFlight ??= this.uaa
      .clientCredentialsGrant(this.options.clientId, this.options.clientSecret, requestId)
      .then((grant) => {
        const lifetimeMs = grant.expiresIn * 1000;
        // Short-lived tokens: renew at half-life rather than never caching them.
        const renewAt = this.clock() + Math.max(lifetimeMs - this.refreshBeforeMs, lifetimeMs / 2);
        this.cached = { token: grant.accessToken, renewAt };
        return grant.accessToken;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  close(): void {
    this.uaa.close();
  }
}
