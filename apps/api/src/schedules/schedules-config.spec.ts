import { ApiConfig } from '../config/api-config';
import { ApiConfigError } from '../config/api-config.error';

const minimal = {
  uaa: { url: 'https://uaa.example.org' },
  cloud_controller: { url: 'https://api.example.org' },
  agents: { mtls: { certificate: '/c.crt', private_key: '/c.key', ca: '/ca.crt' } },
};
const sinks = { archive: { kind: 's3', bucket: 'captures', region: 'eu-central-1' } };
const client = { id: 'pcap-scheduler', secret: 's3cret' };

function problemsOf(raw: unknown): readonly string[] {
  try {
    ApiConfig.fromObject(raw);
  } catch (err) {
    if (err instanceof ApiConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected an ApiConfigError');
}

describe('ApiConfig: schedules and sinks', () => {
  it('has schedules off and no sinks by default', () => {
    const c = ApiConfig.fromObject(minimal);
    expect(c.schedules).toBeUndefined();
    expect(c.sinks).toEqual([]);
  });

  it('fills the schedule defaults and names each sink', () => {
    const c = ApiConfig.fromObject({
      ...minimal,
      sinks,
      schedules: { store: { kind: 'sqlite', data_dir: '/var/vcap/store/pcap-api' }, uaa_client: client },
    });
    expect(c.schedules).toEqual({
      store: { kind: 'sqlite', data_dir: '/var/vcap/store/pcap-api' },
      uaa_client: client,
      tick_seconds: 1,
      lease_seconds: 30,
      missed_after_seconds: 60,
      min_interval_seconds: 300,
      max_duration_seconds: 3600,
      max_bytes: 1 << 30,
      max_per_app: 10,
      max_per_user: 20,
      runs_kept: 500,
    });
    expect(c.sinks[0]).toMatchObject({ name: 'archive', kind: 's3', bucket: 'captures', prefix: '' });
  });

  it('accepts a PostgreSQL store with a pool size default', () => {
    const c = ApiConfig.fromObject({
      ...minimal,
      sinks,
      schedules: { store: { kind: 'postgres', url: 'postgres://pcap@db:5432/pcap' }, uaa_client: client },
    });
    expect(c.schedules?.store).toEqual({
      kind: 'postgres',
      url: 'postgres://pcap@db:5432/pcap',
      pool_size: 5,
    });
  });

  it('lists every problem of a bad schedules block', () => {
    const problems = problemsOf({
      ...minimal,
      schedules: {
        store: { kind: 'postgres', url: 'mysql://x' },
        lease_seconds: 0,
        tick_seconds: 0.01,
      },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'schedules.store.url: must be a postgres:// URL',
        expect.stringMatching(/^schedules\.uaa_client: /),
        expect.stringMatching(/^schedules\.lease_seconds: /),
        expect.stringMatching(/^schedules\.tick_seconds: /),
      ]),
    );
  });

  it('refuses schedules without a sink', () => {
    expect(
      problemsOf({
        ...minimal,
        schedules: { store: { kind: 'sqlite', data_dir: '/d' }, uaa_client: client },
      }),
    ).toEqual(['schedules: scheduled captures store to a sink: configure at least one under sinks']);
  });
});
