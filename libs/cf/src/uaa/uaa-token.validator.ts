import { verify as verifySignature, type KeyObject } from 'node:crypto';

import { z } from 'zod';

import { CfAuthError } from '../errors/cf.error';
import { type HttpEndpointOptions } from '../http/json-http.client';
import { parseBearerHeader } from './bearer-token.util';
import { SecretToken } from './secret-token';
import { UaaClient } from './uaa.client';
import { UaaKeyStore } from './uaa-key.store';
import { CF_SCOPES, type UaaPrincipal } from './uaa-principal.model';

/** What a token must carry to be accepted. */
export interface UaaTokenPolicy {
  /** Required member of `aud`; `null` skips the audience check (BOSH directors check scopes only). */
  readonly audience: string | null;
  /** The token needs at least one of these scopes. */
  readonly anyOfScopes: readonly string[];
}

/** Cloud Controller's own rule: audience `cloud_controller`, scope `cloud_controller.read` or `.admin`. */
export const CF_TOKEN_POLICY: UaaTokenPolicy = {
  audience: 'cloud_controller',
  anyOfScopes: [CF_SCOPES.read, CF_SCOPES.admin],
};

/** BOSH mode default: a token of the director's UAA with scope `bosh.admin`; no audience check. */
export const BOSH_TOKEN_POLICY: UaaTokenPolicy = { audience: null, anyOfScopes: ['bosh.admin'] };

export interface UaaTokenValidatorOptions {
  /** The configured UAA; keys and (unless `issuer` is set) the issuer come from here and nowhere else. */
  readonly uaa: HttpEndpointOptions;
  /** Expected `iss`. Default: `issuer` of the UAA's `/.well-known/openid-configuration` (fetched once, cached). */
  readonly issuer?: string;
  /** Default {@link CF_TOKEN_POLICY}. */
  readonly policy?: UaaTokenPolicy;
  /** Clock skew allowed on `exp`, `nbf`, `iat` (seconds, default 30). */
  readonly leewaySeconds?: number;
  /** See {@link UaaKeyStoreOptions.refetchIntervalMs}. */
  readonly keyRefetchIntervalMs?: number;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  readonly clock?: () => number;
}

const stringOrList = z.union([z.string(), z.array(z.string())]);
const headerSchema = z.object({ alg: z.string(), kid: z.string().optional(), typ: z.string().optional() });
const claimsSchema = z.object({
  jti: z.string().optional(),
  sub: z.string().min(1),
  user_id: z.string().optional(),
  user_name: z.string().optional(),
  email: z.string().optional(),
  client_id: z.string().optional(),
  cid: z.string().optional(),
  grant_type: z.string().optional(),
  scope: stringOrList.optional(),
  granted_scopes: z.array(z.string()).optional(),
  aud: stringOrList.optional(),
  iss: z.string().optional(),
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
});
type Claims = z.infer<typeof claimsSchema>;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function list(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? value.split(' ').filter((s) => s.length > 0) : [...value];
}

function decodeJson(part: string): unknown {
  if (!BASE64URL.test(part)) throw new Error('not base64url');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * Validates UAA access tokens the way Cloud Controller does (reference/uaa.md), and turns them into a
 * {@link UaaPrincipal}. Stateless per call; holds only the key cache and the discovered issuer, so one instance
 * serves all requests. Rejections are {@link CfAuthError}s with a distinct `reason`; an unreachable UAA is a
 * CfUnavailableError (the token may be fine — we could not check it).
 *
 * Order of checks: header → JWT shape → `alg` RS256 → key by `kid` (refetch once) → signature (refetch once) →
 * refresh token → `exp`/`nbf`/`iat` → `iss` → `aud` → scope.
 */
export class UaaTokenValidator {
  readonly keys: UaaKeyStore;
  private readonly uaa: UaaClient;
  private readonly policy: UaaTokenPolicy;
  private readonly leeway: number;
  private readonly clock: () => number;
  private issuer: Promise<string> | undefined;

  constructor(options: UaaTokenValidatorOptions) {
    this.uaa = new UaaClient(options.uaa);
    this.clock = options.clock ?? Date.now;
    this.keys = new UaaKeyStore(this.uaa, {
      refetchIntervalMs: options.keyRefetchIntervalMs,
      clock: this.clock,
    });
    this.policy = options.policy ?? CF_TOKEN_POLICY;
    this.leeway = options.leewaySeconds ?? 30;
    this.issuer = options.issuer === undefined ? undefined : Promise.resolve(options.issuer);
  }

  /** The BOSH-mode variant: the director's UAA, its issuer, scope `bosh.admin` (or as configured). */
  static forBosh(
    options: Omit<UaaTokenValidatorOptions, 'policy'> & { policy?: Partial<UaaTokenPolicy> },
  ): UaaTokenValidator {
    return new UaaTokenValidator({ ...options, policy: { ...BOSH_TOKEN_POLICY, ...options.policy } });
  }

  /** Validate the value of an `Authorization` header. */
  validateHeader(header: string | readonly string[] | undefined): Promise<UaaPrincipal> {
    try {
      return this.validate(parseBearerHeader(header));
    } catch (err: unknown) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Validate a bare JWT. */
  async validate(token: string): Promise<UaaPrincipal> {
    const parts = token.split('.');
    if (parts.length !== 3) throw malformed('it is not a JWT (three dot-separated parts)');
    const [h, p, s] = parts as [string, string, string];
    let header: z.infer<typeof headerSchema>;
    let claims: Claims;
    try {
      header = headerSchema.parse(decodeJson(h));
      claims = claimsSchema.parse(decodeJson(p));
    } catch (err: unknown) {
      throw malformed('its header or claims cannot be read', err);
    }
    if (header.alg !== 'RS256') {
      throw new CfAuthError(
        'unsupported_algorithm',
        `The access token is signed with '${header.alg}'; only RS256 tokens from UAA are accepted.`,
      );
    }
    if (!BASE64URL.test(s) || s.length === 0) throw malformed('its signature is missing');
    await this.verifySignature(header.kid, Buffer.from(`${h}.${p}`), Buffer.from(s, 'base64url'));

    if (isRefreshToken(claims)) {
      throw new CfAuthError(
        'refresh_token',
        'This is a refresh token; send an access token instead (cf oauth-token prints one).',
      );
    }
    this.checkTimes(claims);
    const issuer = await this.expectedIssuer();
    if (claims.iss !== issuer) {
      throw new CfAuthError(
        'wrong_issuer',
        `The access token was not issued by the configured UAA (${issuer}).`,
      );
    }
    const audience = list(claims.aud);
    if (this.policy.audience !== null && !audience.includes(this.policy.audience)) {
      throw new CfAuthError('wrong_audience', `The access token is not meant for '${this.policy.audience}'.`);
    }
    const scopes = list(claims.scope);
    if (!this.policy.anyOfScopes.some((needed) => scopes.includes(needed))) {
      throw new CfAuthError(
        'insufficient_scope',
        `The access token lacks the scope to do this: it needs one of ${this.policy.anyOfScopes.join(', ')}.`,
      );
    }
    return this.principal(claims, scopes, issuer, token);
  }

  /** Release sockets to UAA. */
  close(): void {
    this.uaa.close();
  }

  private async verifySignature(kid: string | undefined, data: Buffer, signature: Buffer): Promise<void> {
    let keys = await this.keys.candidates(kid);
    if (keys.length === 0) {
      // Rotation: UAA may have started signing with a key we have not seen yet.
      if (await this.keys.refetch()) keys = await this.keys.candidates(kid);
      if (keys.length === 0) {
        throw new CfAuthError(
          'unknown_key',
          `The access token is signed with a key ('${kid ?? 'no kid'}') that the configured UAA does not publish.`,
        );
      }
    }
    if (matches(keys, data, signature)) return;
    // A key replaced under the same kid: refetch once, then decide.
    if ((await this.keys.refetch()) && matches(await this.keys.candidates(kid), data, signature)) return;
    throw new CfAuthError('bad_signature', 'The access token signature is not valid for the configured UAA.');
  }

  private checkTimes(claims: Claims): void {
    const now = this.clock() / 1000;
    if (now > claims.exp + this.leeway) {
      throw new CfAuthError(
        'expired',
        `The access token expired at ${new Date(claims.exp * 1000).toISOString()}; log in again (cf login).`,
      );
    }
    if (claims.nbf !== undefined && claims.nbf > now + this.leeway) {
      throw new CfAuthError(
        'not_yet_valid',
        `The access token is not valid before ${new Date(claims.nbf * 1000).toISOString()}.`,
      );
    }
    if (claims.iat !== undefined && claims.iat > now + this.leeway) {
      throw new CfAuthError(
        'not_yet_valid',
        'The access token claims to be issued in the future; check clocks.',
      );
    }
  }

  private expectedIssuer(): Promise<string> {
    if (this.issuer === undefined) {
      const discovery = this.uaa.fetchIssuer();
      // Cache success only, so a UAA outage at boot does not pin a failure.
      void discovery.catch(() => {
        if (this.issuer === discovery) this.issuer = undefined;
      });
      this.issuer = discovery;
    }
    return this.issuer;
  }

  private principal(claims: Claims, scopes: string[], issuer: string, token: string): UaaPrincipal {
    const clientId = claims.client_id ?? claims.cid ?? claims.sub;
    const isAdmin = scopes.includes(CF_SCOPES.admin);
    return {
      userId: claims.user_id ?? claims.sub,
      userName: claims.user_name ?? clientId,
      ...(claims.email === undefined ? {} : { email: claims.email }),
      clientId,
      isClient: claims.user_id === undefined,
      scopes,
      isAdmin,
      isAdminReadOnly: !isAdmin && scopes.includes(CF_SCOPES.adminReadOnly),
      isGlobalAuditor: scopes.includes(CF_SCOPES.globalAuditor),
      issuer,
      expiresAt: new Date(claims.exp * 1000),
      rawToken: new SecretToken(token),
    };
  }
}

function malformed(why: string, cause?: unknown): CfAuthError {
  return new CfAuthError('malformed_token', `The access token is malformed: ${why}.`, { cause });
}

function matches(keys: readonly KeyObject[], data: Buffer, signature: Buffer): boolean {
  return keys.some(
    (key) => key.asymmetricKeyType === 'rsa' && verifySignature('sha256', data, key, signature),
  );
}

/**
 * UAA refresh tokens are JWTs too: their `jti` ends in `-r`, and they carry `granted_scopes` instead of `scope`.
 * (An access token obtained *with* a refresh grant is a normal access token and is accepted.)
 */
function isRefreshToken(claims: Claims): boolean {
  return (
    (claims.jti?.endsWith('-r') ?? false) ||
    (claims.granted_scopes !== undefined && claims.scope === undefined)
  );
}
