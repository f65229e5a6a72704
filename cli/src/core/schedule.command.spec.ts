import { parseFlags } from './capture-flags';
import { CliError, ExitCode } from './cli.errors';
import { formatTable, isUnknownRoute } from './pcap-api';
import { captureIdOfRun, CREATE_FLAGS, createBodyOf } from './schedule.command';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function flagsOf(args: string[]): ReturnType<typeof parseFlags>['flags'] {
  return parseFlags(args, CREATE_FLAGS).flags;
}

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.USAGE);
    return (err as CliError).message;
  }
  throw new Error('no error');
}

describe('schedule create body', () => {
  it('turns --at +D into an ISO time from now and keeps the capture keys of a capture body', () => {
    const flags = flagsOf(['--at', '+1h30m', '--duration', '5m', '--sink', 'archive', '-f', 'udp']);
    expect(createBodyOf(flags, NOW)).toEqual({
      instances: 'all',
      filter: 'udp',
      duration_seconds: 300,
      sink: 'archive',
      at: '2030-01-01T01:30:00.000Z',
    });
  });

  it('passes cron and time zone through; the API validates the expression', () => {
    const flags = flagsOf(['--cron', '0 */6 * * *', '--timezone', 'Europe/Berlin', '--duration', '60']);
    expect(usageError(() => createBodyOf(flags, NOW))).toBe(
      '--sink NAME is required (where each run is stored)',
    );
    const ok = flagsOf(['--cron', '61 * * * *', '--duration', '60', '--sink', 's', '--instance', '0,2']);
    expect(createBodyOf(ok, NOW)).toMatchObject({ cron: '61 * * * *', instances: [0, 2] });
  });

  it('reports every usage problem at once', () => {
    const flags = flagsOf(['--at', '+soon', '--cron', '* * * * *', '--timezone', 'UTC', '--max-bytes', 'x']);
    expect(usageError(() => createBodyOf(flags, NOW)).split('\n')).toEqual([
      'give exactly one of --at TIME and --cron EXPR',
      "--at: '+soon' is not +D (like +90s, +10m)",
      '--duration D is required (how long each run captures)',
      '--sink NAME is required (where each run is stored)',
      "--max-bytes: 'x' is not a positive number",
    ]);
  });
});

describe('pcap API answers', () => {
  it('tells a route that does not exist (feature off) from a domain 404', () => {
    expect(isUnknownRoute(404, { code: 'HTTP_404', message: 'Cannot GET /schedules' })).toBe(true);
    expect(isUnknownRoute(404, { message: 'Route GET:/schedules not found', statusCode: 404 })).toBe(true);
    expect(isUnknownRoute(404, { code: 'NOT_FOUND', message: "Schedule 'x' not found." })).toBe(false);
    expect(isUnknownRoute(400, { code: 'HTTP_404', message: 'Cannot GET /schedules' })).toBe(false);
  });

  it('finds the capture id of a run in its object keys', () => {
    const id = '4b7c0e2a-0000-4000-8000-000000000001';
    expect(captureIdOfRun({ objects: [`acme/dev/my-app/${id}/000001.pcapng`] })).toBe(id);
    expect(captureIdOfRun({ objects: [] })).toBe('');
  });

  it('formats a table with aligned columns and - for empty cells', () => {
    expect(
      formatTable(
        ['ID', 'STATE', 'NEXT'],
        [
          ['a', 'active', ''],
          ['bbbb', 'paused', 'x'],
        ],
      ),
    ).toBe('ID    STATE   NEXT\na     active  -\nbbbb  paused  x\n');
  });
});
