import { CliError, ExitCode } from '../core/cli.errors';
import { httpJson } from '../core/http-request';

/** Seconds until the JWT's `exp` (−Infinity when unreadable: refresh). */
export function secondsLeft(token: string, now = Date.now()): number {
  const payload = token.replace(/^bearer\s+/i, '').split('.')[1];
  if (payload === undefined) return -Infinity;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp - now / 1000 : -Infinity;
  } catch {
    return -Infinity;
  }
}

/**
 * The refresh-token grant as the cf and bosh CLIs do it: `POST {uaa}/oauth/token`, HTTP Basic client:secret,
 * `grant_type=refresh_token&refresh_token=…`. Returns `token_type + " " + access_token` and the refresh token
 * (UAA may rotate it).
 */
export async function refreshAccessToken(options: {
  readonly uaaUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly refreshToken: string;
  readonly insecure: boolean;
  readonly ca?: string;
  readonly loginHint: string;
}): Promise<{ accessToken: string; refreshToken: string }> {
  const basic = Buffer.from(
    `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
  ).toString('base64');
  const res = await httpJson({
    method: 'POST',
    url: `${options.uaaUrl.replace(/\/+$/, '')}/oauth/token`,
    headers: { authorization: `Basic ${basic}` },
    form: { grant_type: 'refresh_token', refresh_token: options.refreshToken },
    insecure: options.insecure,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    system: 'UAA',
  });
  const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as Record<string, unknown>;
  if (res.status === 400 || res.status === 401) {
    const why =
      typeof body.error_description === 'string'
        ? body.error_description
        : typeof body.error === 'string'
          ? body.error
          : `HTTP ${res.status}`;
    throw new CliError(
      ExitCode.NOT_LOGGED_IN,
      `your session expired and UAA refused to renew it (${why}). ${options.loginHint}`,
    );
  }
  if (res.status !== 200 || typeof body.access_token !== 'string') {
    throw new CliError(
      ExitCode.UNAVAILABLE,
      `UAA at ${options.uaaUrl} answered ${res.status} to the token refresh`,
    );
  }
  const type = typeof body.token_type === 'string' ? body.token_type : 'bearer';
  return {
    accessToken: `${type} ${body.access_token}`,
    refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : options.refreshToken,
  };
}
