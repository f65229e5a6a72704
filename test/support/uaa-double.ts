/**
 * A UAA for tests and the local demo: a real HTTP server on 127.0.0.1 (ephemeral port) with real RS256 keys
 * (node:crypto), following reference/uaa.md: `/token_keys` (PEM `value` and `n`/`e`), `/token_key`,
 * `/.well-known/openid-configuration`, `POST /oauth/token` (client_credentials, password, refresh_token).
 * `mintToken` issues user tokens shaped exactly like the cf CLI's. Tests can rotate keys, sign with a foreign key,
 * use `alg: none` or HS256, and break the server (status, hang, stop). Never prints tokens or private keys.
 */
import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import * as jwt from 'jsonwebtoken';

// ---------------------------------------------------------------------------------------------------------------
// Shared by the doubles: a JSON HTTP server with fault injection and a request log (no Authorization values).

/** How a double misbehaves on paths starting with a prefix. */
export type DoubleFault =
  | { readonly kind: 'status'; readonly status: number; readonly body?: unknown }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' };

/** One request seen by a double. The Authorization value is never recorded, only whether there was one. */
export interface DoubleRequest {
  readonly method: string;
  readonly path: string;
  readonly requestId: string | undefined;
  readonly hadAuthorization: boolean;
}

export type DoubleHandler = (req: IncomingMessage, body: string, url: URL) => DoubleReply;
export interface DoubleReply {
  readonly status: number;
  readonly body?: unknown;
  /** Send `body` as text instead of JSON. */
  readonly text?: boolean;
}

/** Base of the test doubles: start/stop, faults, request log. */
export class HttpDouble {
  readonly requests: DoubleRequest[] = [];
  private readonly faults = new Map<string, DoubleFault>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private port = 0;

  protected constructor(private readonly handler: DoubleHandler) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listen on 127.0.0.1; the port is ephemeral on first start and reused by a restart after `stop()`. */
  async listen(): Promise<void> {
    const server = createServer((req, res) => this.serve(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Misbehave on every path starting with `pathPrefix` until {@link clearFaults}. */
  fault(pathPrefix: string, fault: DoubleFault): void {
    this.faults.set(pathPrefix, fault);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** How many requests hit exactly this path (query ignored). */
  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  /** Stop listening and drop open connections (clients then see "connection refused"). Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', this.url);
      const requestId = req.headers['x-vcap-request-id'];
      this.requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        requestId: typeof requestId === 'string' ? requestId : undefined,
        hadAuthorization: req.headers.authorization !== undefined,
      });
      const fault = [...this.faults].find(([prefix]) => url.pathname.startsWith(prefix))?.[1];
      if (fault?.kind === 'hang') return;
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      let reply: DoubleReply;
      try {
        reply =
          fault?.kind === 'status'
            ? { status: fault.status, body: fault.body }
            : this.handler(req, Buffer.concat(chunks).toString('utf8'), url);
      } catch (err: unknown) {
        reply = { status: 500, body: { error: err instanceof Error ? err.message : 'error' } };
      }
      if (reply.body === undefined) {
        res.writeHead(reply.status).end();
      } else if (reply.text === true) {
        res
          .writeHead(reply.status, { 'content-type': 'text/plain' })
          .end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
      } else {
        res
          .writeHead(reply.status, { 'content-type': 'application/json;charset=utf-8' })
          .end(JSON.stringify(reply.body));
      }
    });
  }
}

/** The bearer token of a request (scheme case-insensitive), or undefined. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

// ---------------------------------------------------------------------------------------------------------------

/** A user the UAA double knows (for the password grant and as a default for minted tokens). */
export interface UaaDoubleUser {
  readonly id: string;
  readonly userName: string;
  readonly email?: string;
  /** Default: the cf CLI user scopes of reference/uaa.md. */
  readonly scopes?: readonly string[];
  readonly password?: string;
}

/** An OAuth client. `authorities` become the scopes of its client-credentials tokens. */
export interface UaaDoubleClient {
  readonly id: string;
  readonly secret: string;
  readonly authorities?: readonly string[];
}

export interface UaaDoubleOptions {
  readonly users?: readonly UaaDoubleUser[];
  /** Default: client `cf` with an empty secret (as the cf CLI uses it). */
  readonly clients?: readonly UaaDoubleClient[];
  /** Access token lifetime (s), default 1199 as in the reference. */
  readonly accessTokenSeconds?: number;
  /** First key id, default `key-1`. */
  readonly kid?: string;
}

export interface MintOptions {
  /** Header `kid`; default the active key. A kid the double does not hold is signed with a fresh key. */
  readonly kid?: string;
  /** Leave `kid` out of the header. */
  readonly omitKid?: boolean;
  /** `none` leaves the signature empty; `HS256` uses the active public key PEM as the HMAC secret. */
  readonly alg?: 'RS256' | 'none' | 'HS256';
  /** Seconds from `now` to `exp`; negative for an expired token. Default `accessTokenSeconds`. */
  readonly expiresIn?: number;
  /** Sign with a key that is not the one published under `kid` (same kid, different key). */
  readonly foreignKey?: boolean;
  /** "Now" in seconds since the epoch; default the wall clock. */
  readonly now?: number;
}

/** CF CLI user scopes from reference/uaa.md. */
export const CF_USER_SCOPES: readonly string[] = [
  'openid',
  'cloud_controller.read',
  'cloud_controller.write',
  'uaa.user',
  'password.write',
  'scim.read',
  'routing.router_groups.read',
  'doppler.firehose',
  'network.admin',
];

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  published: boolean;
}

/** What {@link UaaDouble.verify} says about a token, the way a resource server (CC) would decide. */
export type UaaDoubleVerdict =
  { readonly ok: true; readonly claims: jwt.JwtPayload } | { readonly ok: false; readonly why: string };

export class UaaDouble extends HttpDouble {
  private readonly keys = new Map<string, SigningKey>();
  private activeKid: string;
  private readonly users: UaaDoubleUser[];
  private readonly clients: UaaDoubleClient[];
  private readonly accessTokenSeconds: number;
  private foreign: KeyObject | undefined;

  private constructor(options: UaaDoubleOptions) {
    super((req, body, url) => this.route(req, body, url));
    this.users = [...(options.users ?? [])];
    this.clients = [...(options.clients ?? [{ id: 'cf', secret: '' }])];
    this.accessTokenSeconds = options.accessTokenSeconds ?? 1199;
    this.activeKid = options.kid ?? 'key-1';
    this.addKey(this.activeKid, { publish: true });
  }

  static async start(options: UaaDoubleOptions = {}): Promise<UaaDouble> {
    const uaa = new UaaDouble(options);
    await uaa.listen();
    return uaa;
  }

  /** `iss` of every token, as `/.well-known/openid-configuration` announces it. */
  get issuer(): string {
    return `${this.url}/oauth/token`;
  }

  get activeKeyId(): string {
    return this.activeKid;
  }

  addUser(user: UaaDoubleUser): void {
    this.users.push(user);
  }

  addClient(client: UaaDoubleClient): void {
    this.clients.push(client);
  }

  /** Generate a key under `kid`; `publish: false` keeps it out of `/token_keys` (until {@link publishKey}). */
  addKey(kid: string, options: { publish: boolean } = { publish: true }): void {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.keys.set(kid, { kid, privateKey, publicKey, published: options.publish });
  }

  publishKey(kid: string): void {
    const key = this.keys.get(kid);
    if (key === undefined) throw new Error(`no key ${kid}`);
    key.published = true;
  }

  /** Key rotation as UAA does it: a new published key becomes the signing key; old keys stay published. */
  rotateKey(kid: string, options: { retireOld?: boolean; publish?: boolean } = {}): void {
    if (options.retireOld === true) for (const k of this.keys.values()) k.published = false;
    this.addKey(kid, { publish: options.publish ?? true });
    this.activeKid = kid;
  }

  /**
   * A user access token shaped like reference/uaa.md (cf CLI, password grant). `claims` override or add claims;
   * a claim set to `undefined` is removed. `aud` follows the scopes unless overridden, as UAA derives it.
   */
  mintToken(claims: Readonly<Record<string, unknown>> = {}, options: MintOptions = {}): string {
    const now = options.now ?? Math.floor(Date.now() / 1000);
    const userId = typeof claims.user_id === 'string' ? claims.user_id : randomUUID();
    const scope = Array.isArray(claims.scope) ? (claims.scope as string[]) : [...CF_USER_SCOPES];
    const clientId = typeof claims.client_id === 'string' ? claims.client_id : 'cf';
    const base: Record<string, unknown> = {
      jti: randomBytes(16).toString('hex'),
      sub: userId,
      scope,
      client_id: clientId,
      cid: clientId,
      azp: clientId,
      grant_type: 'password',
      user_id: userId,
      origin: 'uaa',
      user_name: 'alice',
      email: 'alice@example.com',
      auth_time: now,
      rev_sig: randomBytes(4).toString('hex'),
      iat: now,
      exp: now + (options.expiresIn ?? this.accessTokenSeconds),
      iss: this.issuer,
      zid: 'uaa',
      aud: audienceOf(clientId, scope),
      revocable: true,
    };
    return this.sign(merge(base, claims), options);
  }

  /** A token for a known user. */
  mintUserToken(
    user: UaaDoubleUser,
    claims: Readonly<Record<string, unknown>> = {},
    options: MintOptions = {},
  ): string {
    return this.mintToken(
      {
        user_id: user.id,
        sub: user.id,
        user_name: user.userName,
        email: user.email,
        scope: [...(user.scopes ?? CF_USER_SCOPES)],
        ...claims,
      },
      options,
    );
  }

  /** A refresh token as UAA issues it: `jti` ending in `-r`, `granted_scopes` instead of `scope`. */
  mintRefreshToken(user: UaaDoubleUser, options: MintOptions = {}): string {
    const now = options.now ?? Math.floor(Date.now() / 1000);
    const scopes = [...(user.scopes ?? CF_USER_SCOPES)];
    return this.sign(
      {
        jti: `${randomBytes(16).toString('hex')}-r`,
        sub: user.id,
        iat: now,
        exp: now + (options.expiresIn ?? 30 * 24 * 3600),
        cid: 'cf',
        client_id: 'cf',
        iss: this.issuer,
        zid: 'uaa',
        aud: audienceOf('cf', scopes),
        granted_scopes: scopes,
        amr: ['pwd'],
        auth_time: now,
        grant_type: 'password',
        user_name: user.userName,
        origin: 'uaa',
        user_id: user.id,
        rev_sig: randomBytes(4).toString('hex'),
        revocable: true,
      },
      options,
    );
  }

  /** A client-credentials token for a registered client. */
  mintClientToken(clientId: string, options: MintOptions = {}): string {
    const client = this.clients.find((c) => c.id === clientId);
    if (client === undefined) throw new Error(`unknown client ${clientId}`);
    return this.clientToken(client, options);
  }

  /**
   * Verify a token as a resource server would, against this double's published keys (RS256 only) and issuer.
   * Checks signature, expiry, issuer and that it is not a refresh token; audience and scope are left to the caller.
   */
  verify(token: string): UaaDoubleVerdict {
    const decoded = jwt.decode(token, { complete: true });
    if (decoded === null || typeof decoded.payload === 'string') return { ok: false, why: 'malformed' };
    const key = this.keys.get(decoded.header.kid ?? '');
    if (key === undefined || !key.published) return { ok: false, why: 'unknown key' };
    try {
      const claims = jwt.verify(token, key.publicKey, { algorithms: ['RS256'], issuer: this.issuer });
      if (typeof claims === 'string') return { ok: false, why: 'malformed' };
      if (typeof claims.jti === 'string' && claims.jti.endsWith('-r'))
        return { ok: false, why: 'refresh token' };
      return { ok: true, claims };
    } catch (err: unknown) {
      return { ok: false, why: err instanceof Error ? err.message : 'invalid' };
    }
  }

  private sign(claims: Record<string, unknown>, options: MintOptions): string {
    const alg = options.alg ?? 'RS256';
    const kid = options.kid ?? this.activeKid;
    const header: Record<string, unknown> = { alg, jku: `${this.url}/token_keys`, typ: 'JWT' };
    if (options.omitKid !== true) header.kid = kid;
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    if (alg === 'none') return `${input}.`;
    if (alg === 'HS256') {
      const active = this.keyOf(this.activeKid);
      const secret = active.publicKey.export({ type: 'spki', format: 'pem' });
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    }
    let privateKey: KeyObject;
    if (options.foreignKey === true) {
      this.foreign ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      privateKey = this.foreign;
    } else {
      if (!this.keys.has(kid)) this.addKey(kid, { publish: false });
      privateKey = this.keyOf(kid).privateKey;
    }
    return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  }

  private keyOf(kid: string): SigningKey {
    const key = this.keys.get(kid);
    if (key === undefined) throw new Error(`no key ${kid}`);
    return key;
  }

  private clientToken(client: UaaDoubleClient, options: MintOptions = {}): string {
    const now = options.now ?? Math.floor(Date.now() / 1000);
    const scope = [...(client.authorities ?? ['uaa.none'])];
    return this.sign(
      {
        jti: randomBytes(16).toString('hex'),
        sub: client.id,
        authorities: scope,
        scope,
        client_id: client.id,
        cid: client.id,
        azp: client.id,
        grant_type: 'client_credentials',
        rev_sig: randomBytes(4).toString('hex'),
        iat: now,
        exp: now + (options.expiresIn ?? this.accessTokenSeconds),
        iss: this.issuer,
        zid: 'uaa',
        aud: audienceOf(client.id, scope),
      },
      options,
    );
  }

  private jwk(key: SigningKey): Record<string, unknown> {
    const { n, e } = key.publicKey.export({ format: 'jwk' });
    return {
      kty: 'RSA',
      e,
      use: 'sig',
      kid: key.kid,
      alg: 'RS256',
      value: key.publicKey.export({ type: 'spki', format: 'pem' }).toString().trimEnd(),
      n,
    };
  }

  private route(req: IncomingMessage, body: string, url: URL): DoubleReply {
    const get = req.method === 'GET';
    switch (url.pathname) {
      case '/token_keys':
        if (!get) break;
        return {
          status: 200,
          body: { keys: [...this.keys.values()].filter((k) => k.published).map((k) => this.jwk(k)) },
        };
      case '/token_key':
        if (!get) break;
        return { status: 200, body: this.jwk(this.keyOf(this.activeKid)) };
      case '/.well-known/openid-configuration':
        if (!get) break;
        return {
          status: 200,
          body: {
            issuer: this.issuer,
            authorization_endpoint: `${this.url}/oauth/authorize`,
            token_endpoint: `${this.url}/oauth/token`,
            jwks_uri: `${this.url}/token_keys`,
            userinfo_endpoint: `${this.url}/userinfo`,
            scopes_supported: ['openid', 'profile', 'email', 'phone', 'roles', 'user_attributes'],
            response_types_supported: ['code', 'code id_token', 'id_token', 'token id_token'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256', 'HS256'],
            claims_supported: [
              'sub',
              'user_name',
              'origin',
              'iss',
              'auth_time',
              'amr',
              'acr',
              'client_id',
              'aud',
              'zid',
              'grant_type',
              'user_id',
              'azp',
              'scope',
              'exp',
              'iat',
              'jti',
              'rev_sig',
              'cid',
              'given_name',
              'family_name',
              'phone_number',
              'email',
            ],
          },
        };
      case '/oauth/token':
        if (req.method !== 'POST') break;
        return this.token(req, new URLSearchParams(body));
      default:
        break;
    }
    return { status: 404, body: { error: 'not_found', error_description: `No handler for ${url.pathname}` } };
  }

  private token(req: IncomingMessage, form: URLSearchParams): DoubleReply {
    const client = this.basicClient(req);
    if (client === undefined) {
      return { status: 401, body: { error: 'unauthorized', error_description: 'Bad credentials' } };
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      const scope = (client.authorities ?? ['uaa.none']).join(' ');
      return this.grantReply(this.clientToken(client), undefined, scope);
    }
    if (grant === 'password') {
      const user = this.users.find(
        (u) => u.userName === form.get('username') && u.password === form.get('password'),
      );
      if (user === undefined)
        return { status: 401, body: { error: 'unauthorized', error_description: 'Bad credentials' } };
      return this.grantReply(
        this.mintUserToken(user, { client_id: client.id, cid: client.id, azp: client.id }),
        this.mintRefreshToken(user),
        (user.scopes ?? CF_USER_SCOPES).join(' '),
      );
    }
    if (grant === 'refresh_token') {
      const refresh = form.get('refresh_token') ?? '';
      const decoded = jwt.decode(refresh, { complete: true });
      const key = decoded === null ? undefined : this.keys.get(decoded.header.kid ?? '');
      let claims: jwt.JwtPayload | string | undefined;
      try {
        claims =
          key === undefined ? undefined : jwt.verify(refresh, key.publicKey, { algorithms: ['RS256'] });
      } catch {
        claims = undefined;
      }
      if (claims === undefined || typeof claims === 'string' || !String(claims.jti).endsWith('-r')) {
        return { status: 401, body: { error: 'invalid_token', error_description: 'Invalid refresh token.' } };
      }
      const user: UaaDoubleUser = {
        id: String(claims.user_id),
        userName: String(claims.user_name),
        scopes: Array.isArray(claims.granted_scopes) ? (claims.granted_scopes as string[]) : CF_USER_SCOPES,
      };
      const access = this.mintUserToken(user, { email: this.users.find((u) => u.id === user.id)?.email });
      return this.grantReply(access, this.mintRefreshToken(user), (user.scopes ?? []).join(' '));
    }
    return {
      status: 400,
      body: { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${grant ?? ''}` },
    };
  }

  private grantReply(access: string, refresh: string | undefined, scope: string): DoubleReply {
    const jti = (jwt.decode(access) as jwt.JwtPayload | null)?.jti;
    return {
      status: 200,
      body: {
        access_token: access,
        token_type: 'bearer',
        ...(refresh === undefined ? {} : { refresh_token: refresh }),
        expires_in: this.accessTokenSeconds,
        scope,
        jti,
      },
    };
  }

  private basicClient(req: IncomingMessage): UaaDoubleClient | undefined {
    const m = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m?.[1] === undefined) return undefined;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const id = decodeURIComponent(decoded.slice(0, colon));
    const secret = decodeURIComponent(decoded.slice(colon + 1));
    return this.clients.find((c) => c.id === id && c.secret === secret);
  }
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/** UAA's audience: the client id plus each scope's resource (the part before its last dot). */
function audienceOf(clientId: string, scopes: readonly string[]): string[] {
  const resources = scopes.map((s) => (s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : s));
  return [...new Set([...resources, clientId])];
}

function merge(
  base: Record<string, unknown>,
  overrides: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}
