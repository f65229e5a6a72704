import {
  CfAuthError,
  CfForbiddenError,
  CfNotFoundError,
  CfUnavailableError,
  CloudControllerClient,
  SecretToken,
} from '@pcap/cf';

import { CliError, ExitCode } from './cli.errors';

/** Finds an app by name in a space with Cloud Controller v3 (`GET /v3/apps?names=&space_guids=`). */
export async function lookupApp(options: {
  readonly ccUrl: string;
  /** `bearer eyJ…` or the bare token. */
  readonly accessToken: string;
  readonly spaceGuid: string;
  readonly spaceName: string;
  readonly appName: string;
  readonly insecure: boolean;
}): Promise<{ guid: string; name: string }> {
  const cc = new CloudControllerClient({
    url: options.ccUrl,
    skipTlsVerify: options.insecure,
    timeoutMs: 30000,
  });
  const token = new SecretToken(options.accessToken.replace(/^bearer\s+/i, ''));
  try {
    const app = await cc.findAppByName({ token }, options.spaceGuid, options.appName);
    return { guid: app.guid, name: app.name };
  } catch (err) {
    if (err instanceof CfNotFoundError) {
      throw new CliError(
        ExitCode.NOT_FOUND,
        `App '${options.appName}' not found in space '${options.spaceName}'.`,
        { cause: err },
      );
    }
    if (err instanceof CfAuthError) {
      throw new CliError(
        ExitCode.NOT_LOGGED_IN,
        `Cloud Controller refused your token: ${err.message} Log in again.`,
        { cause: err },
      );
    }
    if (err instanceof CfForbiddenError)
      throw new CliError(ExitCode.FORBIDDEN, `not authorised: ${err.message}`, { cause: err });
    if (err instanceof CfUnavailableError)
      throw new CliError(ExitCode.UNAVAILABLE, err.message, { cause: err });
    throw err;
  } finally {
    cc.close();
  }
}
