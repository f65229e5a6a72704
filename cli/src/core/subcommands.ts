import { type ExitCodeValue } from './cli.errors';
import { SCHEDULE_USAGE, scheduleCommand, type SubcommandContext } from './schedule.command';
import { STORED_USAGE, storedCommand } from './stored.command';

export type { SubcommandContext } from './schedule.command';

/**
 * `schedule ...` and `stored ...` of `cf pcap` and `pcap`; `undefined` when `args` is an app capture. Only the first
 * word counts: `cf pcap -o f.pcapng schedule` still captures an app named `schedule`.
 */
export function runSubcommand(
  args: readonly string[],
  ctx: SubcommandContext,
): Promise<ExitCodeValue> | undefined {
  const [first, ...rest] = args;
  if (first === 'schedule') return scheduleCommand(rest, ctx);
  if (first === 'stored') return storedCommand(rest, ctx);
  return undefined;
}

/** The subcommands' usage lines after `command ` (help texts, plugin metadata). */
export function subcommandUsage(command: string): string {
  return [...SCHEDULE_USAGE, ...STORED_USAGE].map((u) => `${command} ${u}`).join('\n');
}
