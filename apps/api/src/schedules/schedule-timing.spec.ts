import { cronProblems, isTimeZone, nextOccurrence } from './schedule-timing';

const T = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('schedule timing', () => {
  it('a one-off occurs once, strictly after the given time', () => {
    const once = { kind: 'once' as const, atMs: T };
    expect(nextOccurrence(once, T - 1)).toBe(T);
    expect(nextOccurrence(once, T)).toBeNull();
  });

  it('cron with 6 fields has second precision; the next occurrence is strictly later', () => {
    const every2 = { kind: 'cron' as const, cron: '*/2 * * * * *', timezone: 'UTC' };
    expect(nextOccurrence(every2, T)).toBe(T + 2000);
    expect(nextOccurrence(every2, T + 1)).toBe(T + 2000);
  });

  it('cron is evaluated in the schedule time zone', () => {
    const berlin = { kind: 'cron' as const, cron: '0 9 * * *', timezone: 'Europe/Berlin' };
    // 09:00 in Berlin in January is 08:00 UTC.
    expect(new Date(nextOccurrence(berlin, T)!).toISOString()).toBe('2030-01-02T08:00:00.000Z');
  });

  it('names what is wrong with a cron expression', () => {
    expect(cronProblems('0 * * * *', 'UTC', T, 60, 60)).toEqual([]);
    expect(cronProblems('@hourly', 'UTC', T, 60, 60)[0]).toContain('not a shorthand');
    expect(cronProblems('* * *', 'UTC', T, 60, 60)[0]).toContain('has 3 fields');
    expect(cronProblems('61 * * * *', 'UTC', T, 60, 60)[0]).toContain('is not a valid cron expression');
    expect(cronProblems('* * * * *', 'UTC', T, 300, 10)[0]).toContain(
      'runs every 60s; the limit schedules.min_interval_seconds is 300',
    );
    expect(cronProblems('* * * * *', 'UTC', T, 60, 60)[0]).toContain(
      'duration_seconds 60 is not shorter than the 60s',
    );
    // Uneven gaps: the shortest counts (minute 0 and 5 of each hour: 5 minutes apart).
    expect(cronProblems('0,5 * * * *', 'UTC', T, 600, 10)[0]).toContain('runs every 300s');
  });

  it('knows IANA time zones', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
