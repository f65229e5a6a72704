import { BOSH_FLAGS, CAPTURE_FLAGS, captureOptionsOf, flagHelp, parseFlags } from '../core/capture-flags';
import { captureBodyOf, checkOutput, runCapture, type CaptureIo } from '../core/capture-run';
import { CliError, ExitCode, type ExitCodeValue } from '../core/cli.errors';
import { boshConfigPath, boshSessionFromConfig } from './bosh-config';

/** The app flags that mean something else (or nothing) for BOSH VMs: -d is the deployment, as in the bosh CLI. */
const SPECS = [
  ...BOSH_FLAGS,
  ...CAPTURE_FLAGS.filter((f) => !['device', 'instance', 'type'].includes(f.long)),
];

export function boshHelp(): string {
  return `Capture the network traffic of BOSH VMs (instance groups of a deployment) into one pcapng file, live.

USAGE:
   pcap bosh -d DEPLOYMENT -g GROUP [-g GROUP...] [--instance-id ID...] [-e ENV] [-o FILE|-] [-f FILTER] [--interface DEVICE] ...

OPTIONS:
${flagHelp(SPECS)}

The pcap API URL comes from --api or PCAP_API. The token is the BOSH CLI's (~/.bosh/config), refreshed when needed.
`;
}

/** `pcap bosh ...`: `POST /bosh/captures` with the BOSH UAA token (docs/cli.md: the shape the CLI sends). */
export async function boshCapture(
  args: readonly string[],
  io: CaptureIo,
  env: NodeJS.ProcessEnv,
): Promise<ExitCodeValue> {
  const { positionals, flags } = parseFlags(args, SPECS);
  if (flags.has('help')) {
    io.stdout.write(boshHelp());
    return ExitCode.OK;
  }
  const options = captureOptionsOf(flags);
  const deployment = flags.get('deployment')?.[0];
  const groups = flags.get('instance-group') ?? [];
  const problems: string[] = [];
  if (positionals.length > 0) problems.push(`unexpected argument '${positionals[0]}'`);
  if (deployment === undefined) problems.push('name the deployment: -d DEPLOYMENT');
  if (groups.length === 0) problems.push('name at least one instance group: -g GROUP');
  const apiUrl = options.api ?? (env.PCAP_API || undefined);
  if (apiUrl === undefined) problems.push('name the pcap API: --api URL or PCAP_API');
  if (problems.length > 0) throw new CliError(ExitCode.USAGE, problems.join('\n'));
  checkOutput(options, io);
  const session = await boshSessionFromConfig(
    boshConfigPath(flags.get('bosh-config')?.[0], env),
    flags.get('environment')?.[0] ?? env.BOSH_ENVIRONMENT,
    options.insecure,
  );
  const ids = flags.get('instance-id');
  return runCapture(
    {
      apiUrl: apiUrl!.replace(/\/+$/, ''),
      path: '/bosh/captures',
      authorization: session.authorization,
      insecure: options.insecure,
      body: {
        deployment,
        groups,
        ...(ids === undefined ? {} : { instances: ids }),
        ...captureBodyOf(options),
      },
    },
    options,
    io,
  );
}
