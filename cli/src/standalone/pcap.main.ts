/**
 * `pcap`: the standalone CLI for machines without the cf plugin. `pcap APP ...` uses the cf CLI's login
 * (config.json); `pcap bosh ...` the BOSH CLI's (~/.bosh/config).
 */
import { appHelp, captureApp, parseAppArgs } from '../core/app-capture.command';
import { checkOutput, type CaptureIo } from '../core/capture-run';
import { CliError, ExitCode, type ExitCodeValue } from '../core/cli.errors';
import { runSubcommand } from '../core/subcommands';
import { CLI_VERSION_TEXT } from '../core/version';
import { boshCapture } from './bosh-capture.command';
import { cfConfigPath, cfSessionFromConfig } from './cf-config';

function help(): string {
  return `pcap ${CLI_VERSION_TEXT}: packet capture for Cloud Foundry apps and BOSH VMs

   pcap APP [flags]                 an app of the targeted space (cf CLI login: $CF_HOME/.cf/config.json)
   pcap bosh -d DEPLOYMENT -g GROUP  BOSH VMs (BOSH CLI login: ~/.bosh/config)
   pcap schedule ...                scheduled captures stored in a sink (pcap schedule -h)
   pcap stored ...                  captures stored in a sink: list, download (pcap stored -h)
   pcap version

${appHelp('pcap')}`;
}

export async function pcapMain(
  argv: readonly string[],
  io: CaptureIo,
  env: NodeJS.ProcessEnv,
): Promise<ExitCodeValue> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      io.stdout.write(help());
      return first === undefined ? ExitCode.USAGE : ExitCode.OK;
    }
    if (first === 'version' || first === '--version') {
      io.stdout.write(`pcap ${CLI_VERSION_TEXT}\n`);
      return ExitCode.OK;
    }
    if (first === 'bosh') return await boshCapture(rest, io, env);
    const sub = runSubcommand(argv, {
      command: 'pcap',
      login: () => cfSessionFromConfig(cfConfigPath(env)),
      session: () => cfSessionFromConfig(cfConfigPath(env)),
      io,
      env,
    });
    if (sub !== undefined) return await sub;
    const parsed = parseAppArgs(argv);
    if (parsed === undefined) {
      io.stdout.write(appHelp('pcap'));
      return ExitCode.OK;
    }
    checkOutput(parsed.options, io);
    const session = await cfSessionFromConfig(cfConfigPath(env));
    return await captureApp(session, parsed.app, parsed.options, io, env);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`pcap: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`pcap: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.FAILED;
  }
}
