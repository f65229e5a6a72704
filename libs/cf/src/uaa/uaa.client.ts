import { createPublicKey, type KeyObject } from 'node:crypto';

import { z } from 'zod';

import { CfAuthError, CfUnavailableError } from '../errors/cf.error';
import { type HttpEndpointOptions, JsonHttpClient } from '../http/json-http.client';
import { SecretToken } from './secret-token';

/** One verification key published by UAA. */
export interface UaaVerificationKey {
  /** `kid`; `undefined` only for keys of very old UAAs that publish a single unnamed key. */
  readonly kid: string | undefined;
  readonly key: KeyObject;
}

/** A token from `POST /oauth/token`. */
export interface UaaTokenGrant {
  readonly accessToken: SecretToken;
  readonly refreshToken?: SecretToken;
  /** Seconds, as UAA said. */
  readonly expiresIn: number;
  readonly scopes: readonly string[];
}

const tokenKeySchema = z.object({
  kty: z.string(),
  kid: z.string().optional(),
  alg: z.string().optional(),
  use: z.string().optional(),
  n: z.string().optional(),
  e: z.string().optional(),
  value: z.string().optional(),
});
type TokenKey = z.infer<typeof tokenKeySchema>;

const tokenKeysSchema = z.object({ keys: z.array(tokenKeySchema) });
const openIdConfigurationSchema = z.object({ issuer: z.string().min(1) });
const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string(),
  refresh_token: z.string().optional(),
  expires_in: z.number(),
  scope: z.string().optional(),
});

/** Very old UAAs encoded `n`/`e` as plain base64; JWK import needs base64url. */
function toBase64Url(value: string): string {
  return value.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function importKey(k: TokenKey): KeyObject | undefined {
  if (
    k.kty !== 'RSA' ||
    (k.alg !== undefined && k.alg !== 'RS256') ||
    (k.use !== undefined && k.use !== 'sig')
  ) {
    return undefined;
  }
  if (k.value !== undefined && k.value.includes('BEGIN')) {
    try {
      return createPublicKey(k.value);
    } catch {
      // A damaged PEM: fall through to n/e, which UAA publishes for the same key.
    }
  }
  if (k.n !== undefined && k.e !== undefined) {
    return createPublicKey({ key: { kty: 'RSA', n: toBase64Url(k.n), e: toBase64Url(k.e) }, format: 'jwk' });
  }
  return undefined;
}

/**
 * The raw UAA endpoints this project uses, against the one configured UAA (never a URL taken from a token).
 * Each method does one HTTP call; caching lives in {@link UaaKeyStore}, {@link UaaTokenValidator} and
 * {@link UaaClientCredentialsProvider}. Unreachable UAA or an unreadable answer → {@link CfUnavailableError}.
 */
export class UaaClient {
  private readonly http: JsonHttpClient;

  constructor(options: HttpEndpointOptions) {
    this.http = new JsonHttpClient('UAA', options);
  }

  get url(): string {
    return this.http.origin;
  }

  /** `GET /token_keys`: every usable RS256 signing key (PEM `value` preferred, `n`/`e` as fallback). */
  async fetchTokenKeys(): Promise<UaaVerificationKey[]> {
    const res = await this.http.request({ path: '/token_keys' });
    const parsed = tokenKeysSchema.safeParse(res.body);
    if (res.status !== 200 || !parsed.success) {
      throw new CfUnavailableError(
        'UAA',
        `UAA at ${this.url} did not return its token keys (HTTP ${res.status})`,
      );
    }
    const keys: UaaVerificationKey[] = [];
    for (const k of parsed.data.keys) {
      const key = importKey(k);
      if (key !== undefined) keys.push({ kid: k.kid, key });
    }
    return keys;
  }

  /** `GET /.well-known/openid-configuration` → `issuer`. */
  async fetchIssuer(): Promise<string> {
    const res = await this.http.request({ path: '/.well-known/openid-configuration' });
    const parsed = openIdConfigurationSchema.safeParse(res.body);
    if (res.status !== 200 || !parsed.success) {
      throw new CfUnavailableError(
        'UAA',
        `UAA at ${this.url} did not return its OpenID configuration (HTTP ${res.status})`,
      );
    }
    return parsed.data.issuer;
  }

  /**
   * `POST /oauth/token` with `grant_type=client_credentials` and Basic auth. Wrong client or secret →
   * {@link CfAuthError} `rejected_by_upstream`; the secret never appears in a message.
   */
  async clientCredentialsGrant(
    clientId: string,
    clientSecret: string,
    requestId?: string,
  ): Promise<UaaTokenGrant> {
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString(
      'base64',
    );
    const res = await this.http.request({
      method: 'POST',
      path: '/oauth/token',
      authorization: `Basic ${basic}`,
      requestId,
      form: { grant_type: 'client_credentials' },
    });
    if (res.status === 401 || res.status === 400) {
      throw new CfAuthError('rejected_by_upstream', `UAA refused the credentials of client '${clientId}'`);
    }
    const parsed = tokenResponseSchema.safeParse(res.body);
    if (res.status !== 200 || !parsed.success) {
      throw new CfUnavailableError('UAA', `UAA at ${this.url} did not issue a token (HTTP ${res.status})`);
    }
    const d = parsed.data;
    return {
      accessToken: new SecretToken(d.access_token),
      refreshToken: d.refresh_token === undefined ? undefined : new SecretToken(d.refresh_token),
      expiresIn: d.expires_in,
      scopes: d.scope === undefined ? [] : d.scope.split(' ').filter((s) => s.length > 0),
    };
  }

  close(): void {
    this.http.close();
  }
}
