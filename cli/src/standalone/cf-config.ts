import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { CfSession } from '../core/app-capture.command';
import { CliError, ExitCode } from '../core/cli.errors';
import { writeFileAtomically } from './atomic-file';
import { refreshAccessToken, secondsLeft } from './token-refresh';

const LOGIN_HINT = "Use 'cf login' to log in again.";

/** `$CF_HOME/.cf/config.json`, else `$HOME/.cf/config.json` (as the cf CLI finds it). */
export function cfConfigPath(env: NodeJS.ProcessEnv): string {
  const home = env.CF_HOME || env.HOME || '';
  return join(home, '.cf', 'config.json');
}

/**
 * The cf CLI's config.json (ConfigVersion 4): the logged-in user's session for machines without the plugin. A
 * token expiring within a minute is refreshed at UAA as the cf CLI does, and the file is written back atomically
 * with every other field kept.
 */
export async function cfSessionFromConfig(path: string): Promise<CfSession> {
  if (!existsSync(path)) {
    throw new CliError(
      ExitCode.NOT_LOGGED_IN,
      `no cf CLI configuration at ${path}. Use 'cf login' to log in.`,
    );
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(ExitCode.FAILED, `cannot read ${path}: ${(err as Error).message}`);
  }
  if (raw.ConfigVersion !== 4) {
    throw new CliError(
      ExitCode.FAILED,
      `${path} has ConfigVersion ${String(raw.ConfigVersion)}; this CLI reads version 4 (cf CLI 7 and later)`,
    );
  }
  const str = (k: string): string => {
    const v = raw[k];
    return typeof v === 'string' ? v : '';
  };
  const target = str('Target');
  if (target === '')
    throw new CliError(ExitCode.NOT_LOGGED_IN, "No API endpoint set. Use 'cf login -a URL' to log in.");
  let accessToken = str('AccessToken');
  if (accessToken === '')
    throw new CliError(
      ExitCode.NOT_LOGGED_IN,
      "Not logged in. Use 'cf login' or 'cf login --sso' to log in.",
    );
  const sslDisabled = raw.SSLDisabled === true;
  if (secondsLeft(accessToken) < 60) {
    const refreshToken = str('RefreshToken');
    const uaaUrl = str('AuthorizationEndpoint') || str('UaaEndpoint');
    if (refreshToken === '' || uaaUrl === '') {
      throw new CliError(ExitCode.NOT_LOGGED_IN, `your access token expired. ${LOGIN_HINT}`);
    }
    const fresh = await refreshAccessToken({
      uaaUrl,
      clientId: str('UAAOAuthClient') || 'cf',
      clientSecret: str('UAAOAuthClientSecret'),
      refreshToken,
      insecure: sslDisabled,
      loginHint: LOGIN_HINT,
    });
    accessToken = fresh.accessToken;
    // Re-read so a concurrent cf command's other changes are kept; only the tokens are ours.
    const current = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    current.AccessToken = fresh.accessToken;
    current.RefreshToken = fresh.refreshToken;
    writeFileAtomically(path, `${JSON.stringify(current, null, 2)}\n`);
  }
  const space = (
    typeof raw.SpaceFields === 'object' && raw.SpaceFields !== null ? raw.SpaceFields : {}
  ) as Record<string, unknown>;
  return {
    apiEndpoint: target.replace(/\/+$/, ''),
    accessToken,
    sslDisabled,
    space: {
      guid: typeof space.GUID === 'string' ? space.GUID : '',
      name: typeof space.Name === 'string' ? space.Name : '',
    },
  };
}
