import { lookupApp } from './app-lookup';
import {
  CAPTURE_FLAGS,
  captureOptionsOf,
  flagHelp,
  parseFlags,
  pcapApiUrlOf,
  type CaptureOptions,
} from './capture-flags';
import { captureBodyOf, checkOutput, runCapture, type CaptureIo } from './capture-run';
import { CliError, ExitCode, type ExitCodeValue } from './cli.errors';
import { subcommandUsage } from './subcommands';

/** What the cf CLI (plugin RPC) or its config.json (standalone) tells about the logged-in user. */
/** The cf CLI's login: what a call to the pcap API needs. */
export interface CfLogin {
  readonly apiEndpoint: string;
  /** `bearer eyJ…`. */
  readonly accessToken: string;
  readonly sslDisabled: boolean;
}

/** The login and the targeted space: what an app lookup needs. */
export interface CfSession extends CfLogin {
  readonly space: { readonly guid: string; readonly name: string };
}

export const APP_USAGE =
  'APP [-o FILE|-] [-i all|0,1,..] [-t TYPE] [-d DEVICE] [-f FILTER] [-s SNAPLEN] [--duration D] [--max-bytes N]' +
  ' [--max-packets N] [--format pcapng|pcap] [--sink NAME] [--force] [--api URL] [-k] [-q]';

export function appHelp(command: string): string {
  return `Capture the network traffic of every instance of an app into one pcapng file, live.

USAGE:
   ${command} ${APP_USAGE}

EXAMPLES:
   ${command} my-app -o trace.pcapng -f 'tcp port 8080'
   ${command} my-app -i 0,2 --duration 5m -o trace.pcapng
   ${command} my-app -o - | wireshark -k -i -

OPTIONS:
${flagHelp(CAPTURE_FLAGS)}

Ctrl-C stops gracefully (the file is complete); a second Ctrl-C stops at once (the file stays valid).

Scheduled captures and captures stored in a sink (${command} schedule -h, ${command} stored -h):
${subcommandUsage(command).replace(/^/gm, '   ')}
`;
}

/** Parses `APP [flags]`; `undefined` means help was asked for. */
export function parseAppArgs(args: readonly string[]): { app: string; options: CaptureOptions } | undefined {
  const { positionals, flags } = parseFlags(args, CAPTURE_FLAGS);
  if (flags.has('help')) return undefined;
  const options = captureOptionsOf(flags);
  if (positionals.length !== 1) {
    throw new CliError(
      ExitCode.USAGE,
      positionals.length === 0
        ? 'name the app to capture'
        : `one app at a time; got '${positionals.join("', '")}'`,
    );
  }
  return { app: positionals[0]!, options };
}

/**
 * The capture of an app for a logged-in cf user: the app is looked up with CC v3 in the targeted space, the pcap
 * API found by the original plugin's rule (`api.` → `pcap.`) unless `--api` or `PCAP_API` name it.
 */
export async function captureApp(
  session: CfSession,
  app: string,
  options: CaptureOptions,
  io: CaptureIo,
  env: NodeJS.ProcessEnv,
): Promise<ExitCodeValue> {
  if (session.space.guid === '') {
    throw new CliError(ExitCode.NO_TARGET, "No space targeted. Use 'cf target -s SPACE' first.");
  }
  checkOutput(options, io);
  const apiUrl = (options.api ?? (env.PCAP_API || undefined) ?? pcapApiUrlOf(session.apiEndpoint)).replace(
    /\/+$/,
    '',
  );
  const found = await lookupApp({
    ccUrl: session.apiEndpoint,
    accessToken: session.accessToken,
    spaceGuid: session.space.guid,
    spaceName: session.space.name,
    appName: app,
    insecure: session.sslDisabled,
  });
  return runCapture(
    {
      apiUrl,
      path: '/captures',
      authorization: session.accessToken,
      insecure: options.insecure || session.sslDisabled,
      body: {
        app_guid: found.guid,
        ...(options.processType === undefined ? {} : { process_type: options.processType }),
        instances: options.instances,
        ...captureBodyOf(options),
      },
    },
    options,
    io,
  );
}
