import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseDocument } from 'yaml';

import { CliError, ExitCode } from '../core/cli.errors';
import { httpJson } from '../core/http-request';
import { writeFileAtomically } from './atomic-file';
import { refreshAccessToken, secondsLeft } from './token-refresh';

/** One environment of the BOSH CLI's config, with a usable token. */
export interface BoshSession {
  readonly directorUrl: string;
  readonly caCert: string | undefined;
  /** `bearer eyJ…`. */
  readonly authorization: string;
}

const LOGIN_HINT = "Use 'bosh -e ENV log-in' to log in again.";

/** `--bosh-config`, `$BOSH_CONFIG`, else `~/.bosh/config`. */
export function boshConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.BOSH_CONFIG || join(env.HOME ?? '', '.bosh', 'config'));
}

/**
 * Reads `~/.bosh/config` (YAML: `environments: [{url, alias, ca_cert, access_token, access_token_type,
 * refresh_token}]`), picks the environment by alias or URL (`-e`, `$BOSH_ENVIRONMENT`, or the only one), and
 * refreshes a token that expires within a minute at the director's UAA (client `bosh_cli`, as the BOSH CLI does),
 * writing the file back atomically with everything else (comments too) kept.
 */
export async function boshSessionFromConfig(
  path: string,
  environment: string | undefined,
  insecure: boolean,
): Promise<BoshSession> {
  if (!existsSync(path))
    throw new CliError(ExitCode.NOT_LOGGED_IN, `no BOSH CLI configuration at ${path}. ${LOGIN_HINT}`);
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length > 0)
    throw new CliError(ExitCode.FAILED, `cannot read ${path}: ${doc.errors[0]!.message}`);
  const config = doc.toJS() as { environments?: Array<Record<string, unknown>> } | null;
  const envs = config?.environments ?? [];
  const str = (e: Record<string, unknown>, k: string): string => {
    const v = e[k];
    return typeof v === 'string' ? v : '';
  };
  let index: number;
  if (environment !== undefined && environment !== '') {
    index = envs.findIndex(
      (e) =>
        str(e, 'alias') === environment ||
        str(e, 'url').replace(/\/+$/, '') === environment.replace(/\/+$/, ''),
    );
    if (index < 0) throw new CliError(ExitCode.NO_TARGET, `no BOSH environment '${environment}' in ${path}`);
  } else if (envs.length === 1) {
    index = 0;
  } else {
    throw new CliError(
      ExitCode.NO_TARGET,
      envs.length === 0
        ? `no BOSH environment in ${path}. ${LOGIN_HINT}`
        : 'choose a BOSH environment with -e ENV (or BOSH_ENVIRONMENT)',
    );
  }
  const env = envs[index]!;
  const directorUrl = str(env, 'url').replace(/\/+$/, '');
  const caCert = str(env, 'ca_cert') || undefined;
  let token = str(env, 'access_token');
  const type = str(env, 'access_token_type') || 'bearer';
  if (token === '')
    throw new CliError(ExitCode.NOT_LOGGED_IN, `not logged in to ${directorUrl} with UAA. ${LOGIN_HINT}`);
  let authorization = `${type} ${token}`;
  if (secondsLeft(token) < 60) {
    const refreshToken = str(env, 'refresh_token');
    if (refreshToken === '')
      throw new CliError(ExitCode.NOT_LOGGED_IN, `your BOSH access token expired. ${LOGIN_HINT}`);
    const info = await httpJson({
      method: 'GET',
      url: `${directorUrl}/info`,
      insecure,
      ca: caCert,
      system: 'the BOSH director',
    });
    const auth = (
      info.body as { user_authentication?: { type?: string; options?: { url?: string } } } | undefined
    )?.user_authentication;
    if (info.status !== 200 || auth?.type !== 'uaa' || typeof auth.options?.url !== 'string') {
      throw new CliError(
        ExitCode.UNAVAILABLE,
        `the BOSH director at ${directorUrl} does not name its UAA (GET /info answered ${info.status})`,
      );
    }
    const fresh = await refreshAccessToken({
      uaaUrl: auth.options.url,
      clientId: 'bosh_cli',
      clientSecret: '',
      refreshToken,
      insecure,
      ...(caCert === undefined ? {} : { ca: caCert }),
      loginHint: LOGIN_HINT,
    });
    authorization = fresh.accessToken;
    token = fresh.accessToken.replace(/^\S+\s+/, '');
    const current = parseDocument(readFileSync(path, 'utf8'));
    current.setIn(['environments', index, 'access_token'], token);
    current.setIn(['environments', index, 'refresh_token'], fresh.refreshToken);
    writeFileAtomically(path, current.toString());
  }
  return { directorUrl, caCert, authorization };
}
