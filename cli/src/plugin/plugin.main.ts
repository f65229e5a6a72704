/**
 * `cf pcap`: the cf CLI plugin. The cf CLI runs this file as `FILE <port> SendMetadata` on install,
 * `FILE <port> pcap ARGS...` for `cf pcap`/`cf tcpdump`, and `FILE <port> CLI-MESSAGE-UNINSTALL` on uninstall
 * (reference: cf-cli-plugin.md). Uses only IsLoggedIn, ApiEndpoint, IsSSLDisabled, AccessToken, GetCurrentSpace.
 */
import {
  APP_USAGE,
  appHelp,
  captureApp,
  type CfLogin,
  type CfSession,
  parseAppArgs,
} from '../core/app-capture.command';
import { CAPTURE_FLAGS, flagOptions } from '../core/capture-flags';
import { checkOutput } from '../core/capture-run';
import { CliError, ExitCode, type ExitCodeValue } from '../core/cli.errors';
import { runSubcommand, subcommandUsage } from '../core/subcommands';
import { CLI_VERSION } from '../core/version';
import { RpcCallError, RpcConnectionError } from '../rpc/net-rpc.client';
import { CfCliConnection } from './cf-cli.connection';
import type { PluginMetadata } from './cf-plugin.types';

export const PLUGIN_NAME = 'pcap';

export function pluginMetadata(): PluginMetadata {
  return {
    Name: PLUGIN_NAME,
    Version: { Major: CLI_VERSION.major, Minor: CLI_VERSION.minor, Build: CLI_VERSION.build },
    LibraryVersion: { Major: 1, Minor: 0, Build: 0 },
    MinCliVersion: { Major: 6, Minor: 7, Build: 0 },
    Commands: [
      {
        Name: 'pcap',
        Alias: 'tcpdump',
        HelpText:
          'Capture the network traffic of an app (all instances, live, one pcapng file); schedule captures, download stored ones',
        UsageDetails: {
          Usage: `cf pcap ${APP_USAGE}\n   ${subcommandUsage('cf pcap').replace(/\n/g, '\n   ')}`,
          Options: flagOptions(CAPTURE_FLAGS),
        },
      },
    ],
  };
}

export async function pluginMain(
  argv: readonly string[],
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream; signals: NodeJS.EventEmitter },
  env: NodeJS.ProcessEnv,
): Promise<ExitCodeValue> {
  if (argv.length < 2) {
    io.stderr.write('This cf CLI plugin is not intended to be run on its own\n');
    return ExitCode.FAILED;
  }
  const port = Number(argv[0]);
  const command = argv[1]!;
  if (command === 'CLI-MESSAGE-UNINSTALL') return ExitCode.OK;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    io.stderr.write(
      `'${argv[0]}' is not the cf CLI's port; this cf CLI plugin is not intended to be run on its own\n`,
    );
    return ExitCode.FAILED;
  }
  const cf = new CfCliConnection(port);
  try {
    await cf.ping();
    if (command === 'SendMetadata') {
      await cf.setPluginMetadata(pluginMetadata());
      return ExitCode.OK;
    }
    if (command !== PLUGIN_NAME) {
      io.stderr.write(`unknown command '${command}'\n`);
      return ExitCode.FAILED;
    }
    const args = argv.slice(2);
    const session = (): Promise<CfSession> => sessionOf(cf);
    const login = (): Promise<CfLogin> => loginOf(cf);
    const sub = runSubcommand(args, { command: 'cf pcap', login, session, io, env });
    if (sub !== undefined) return await sub;
    const parsed = parseAppArgs(args);
    if (parsed === undefined) {
      io.stdout.write(appHelp('cf pcap'));
      return ExitCode.OK;
    }
    checkOutput(parsed.options, io);
    return await captureApp(await session(), parsed.app, parsed.options, io, env);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`FAILED: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof RpcConnectionError || err instanceof RpcCallError) {
      io.stderr.write(`FAILED: talking to the cf CLI: ${err.message}\n`);
      return ExitCode.FAILED;
    }
    io.stderr.write(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.FAILED;
  }
}

/** The logged-in user's session from the cf CLI: the login, then GetCurrentSpace. */
async function sessionOf(cf: CfCliConnection): Promise<CfSession> {
  const login = await loginOf(cf);
  return { ...login, space: await cf.currentSpace() };
}

/** The logged-in user's login from the cf CLI (IsLoggedIn, ApiEndpoint, IsSSLDisabled, AccessToken). */
async function loginOf(cf: CfCliConnection): Promise<CfLogin> {
  if (!(await cf.isLoggedIn())) {
    throw new CliError(
      ExitCode.NOT_LOGGED_IN,
      "Not logged in. Use 'cf login' or 'cf login --sso' to log in.",
    );
  }
  const apiEndpoint = await cf.apiEndpoint();
  const sslDisabled = await cf.isSslDisabled();
  let accessToken: string;
  try {
    accessToken = await cf.accessToken();
  } catch (err) {
    if (err instanceof RpcCallError) {
      throw new CliError(
        ExitCode.NOT_LOGGED_IN,
        `the cf CLI has no valid token (${err.message}). Use 'cf login' to log in again.`,
      );
    }
    throw err;
  }
  return { apiEndpoint, accessToken, sslDisabled };
}
