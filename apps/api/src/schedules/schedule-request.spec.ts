import { ApiConfig } from '../config/api-config';
import { parseScheduleBody } from './schedule-request';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const APP = '1cb006ee-fb05-47e1-b541-c34179ddc446';

function config(limits: Record<string, unknown> = {}, schedules: Record<string, unknown> = {}): ApiConfig {
  return ApiConfig.fromObject({
    uaa: { url: 'https://uaa.example.org' },
    cloud_controller: { url: 'https://api.example.org' },
    agents: { mtls: { certificate: '/c.crt', private_key: '/c.key', ca: '/ca.crt' } },
    limits,
    sinks: { archive: { kind: 's3', bucket: 'captures' } },
    schedules: {
      store: { kind: 'sqlite', data_dir: '/d' },
      uaa_client: { id: 'c', secret: 's' },
      min_interval_seconds: 60,
      ...schedules,
    },
  });
}

const ctx = (c = config()) => ({ config: c, excluded: ['10.0.0.5'], sinks: ['archive'], nowMs: NOW });
const body = (over: Record<string, unknown> = {}) => ({
  app_guid: APP,
  duration_seconds: 30,
  sink: 'archive',
  cron: '0 * * * *',
  ...over,
});

function refusal(raw: unknown, c = ctx()): { name: string; message: string } {
  try {
    parseScheduleBody(raw, c);
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('parseScheduleBody', () => {
  it('splits the schedule keys from the capture, fills the defaults and validates the capture like POST /captures', () => {
    const r = parseScheduleBody(body({ filter: 'tcp port 443', timezone: 'Europe/Berlin' }), ctx());
    expect(r.timing).toEqual({ kind: 'cron', cron: '0 * * * *', timezone: 'Europe/Berlin' });
    expect(r.sink).toBe('archive');
    expect(r.captureBody).toEqual({
      app_guid: APP,
      duration_seconds: 30,
      filter: 'tcp port 443',
      max_bytes: 1 << 30,
    });
    expect(r.capture.agentFilter).toBe('not (host 10.0.0.5) and (tcp port 443)');
    expect(r.capture.durationSeconds).toBe(30);
  });

  it('takes a one-off time with its zone', () => {
    const r = parseScheduleBody(body({ cron: undefined, at: '2030-01-01T13:30:00+01:00' }), ctx());
    expect(r.timing).toEqual({ kind: 'once', atMs: NOW + 30 * 60 * 1000 });
  });

  it('defaults max_bytes to the lower of schedules.max_bytes and limits.max_bytes', () => {
    const r = parseScheduleBody(body(), ctx(config({ max_bytes: 5000 }, { max_bytes: 9000 })));
    expect(r.captureBody.max_bytes).toBe(5000);
    expect(r.capture.maxBytes).toBe(5000);
  });

  it('lists every mistake in one 400', () => {
    const r = refusal({ app_guid: APP, at: 'tomorrow', sink: 'nowhere', format: 'pcap' });
    expect(r.name).toBe('BadCaptureRequestError');
    expect(r.message).toBe(
      "format: scheduled captures are stored as pcapng; duration_seconds: required for a schedule; sink: 'nowhere' " +
        "is not configured; configured sinks: archive; at: 'tomorrow' is not an ISO 8601 time with a zone, like 2030-01-31T22:00:00Z",
    );
  });

  it('names the limit that is exceeded', () => {
    expect(refusal(body({ cron: '0 0 * * *', duration_seconds: 4000 }))).toEqual({
      name: 'RequestOverLimitError',
      message: 'duration_seconds 4000 exceeds the limit schedules.max_duration_seconds = 3600',
    });
    expect(refusal(body({ cron: '*/10 * * * * *', duration_seconds: 5 })).message).toBe(
      "cron: '*/10 * * * * *' runs every 10s; the limit schedules.min_interval_seconds is 60",
    );
    expect(refusal(body({ max_bytes: 2 ** 31 })).message).toContain('schedules.max_bytes');
  });

  it('refuses a capture part POST /captures would refuse, with its message', () => {
    expect(refusal(body({ colour: 'red' })).message).toContain('colour');
    expect(refusal(body({ filter: 'tcp port' }))).toMatchObject({ name: 'InvalidFilterError' });
    expect(
      refusal(
        body({ cron: '0 0 * * *', duration_seconds: 3001 }),
        ctx(config({ max_duration_seconds: 3000 })),
      ).message,
    ).toContain('limits.max_duration_seconds');
  });

  it('refuses a body that is not an object, both at and cron, and a zone with at', () => {
    expect(refusal([1, 2]).message).toBe('body: must be a JSON object');
    expect(refusal(body({ at: '2030-01-02T00:00:00Z' })).message).toContain('give either at');
    expect(refusal(body({ cron: undefined, at: '2030-01-02T00:00:00Z', timezone: 'UTC' })).message).toContain(
      'timezone: only with cron',
    );
  });
});
