import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import { SNAPLEN_MAX, SNAPLEN_MIN } from '@pcap/capture';
import { type S3SinkConfig, s3SinkConfigSchema } from '@pcap/sinks';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ApiConfigError } from './api-config.error';

const filePath = z.string().min(1, 'must be a file path');
const positiveInt = z.number().int().positive();
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
/** `host:port` of an agent (IPv4 or a name; IPv6 in brackets). */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port');

const SINK_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const upstream = z.strictObject({
  url: httpUrl,
  /** PEM file of the CA to trust for this endpoint (replaces the system store). */
  ca: filePath.optional(),
  skip_tls_verify: z.boolean().default(false),
  timeout_seconds: positiveInt.max(300).default(10),
});

/** Scheduled captures (docs/schedules.md); absent = the feature is off and its routes answer 404. */
const schedules = z
  .strictObject({
    store: z.discriminatedUnion('kind', [
      z.strictObject({
        kind: z.literal('sqlite'),
        /** Directory holding `schedules.sqlite` (created if missing); must survive restarts. */
        data_dir: filePath,
      }),
      z.strictObject({
        kind: z.literal('postgres'),
        /** `postgres://user:password@host:port/db` (SECRET when it holds a password). */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
        /** PEM CA for TLS to the server; absent = no TLS unless the URL says sslmode. */
        ca: filePath.optional(),
        pool_size: positiveInt.max(100).default(5),
      }),
    ]),
    /** The API's own UAA client (client_credentials grant) used when no user is present. */
    uaa_client: z.strictObject({
      id: z.string().min(1),
      /** SECRET. */
      secret: z.string(),
    }),
    /** How often each API instance looks for due occurrences and expired leases. */
    tick_seconds: z.number().min(0.2).max(60).default(1),
    /** A running run's lease; renewed every third of it. An instance silent this long has its run marked failed. */
    lease_seconds: positiveInt.max(3600).default(30),
    /** An occurrence found due later than this (the API was down) is recorded as missed instead of run. */
    missed_after_seconds: positiveInt.max(86_400).default(60),
    /** Shortest time between two occurrences of a cron schedule. */
    min_interval_seconds: positiveInt.max(86_400).default(300),
    max_duration_seconds: positiveInt.max(7 * 24 * 3600).default(3600),
    /** Captured bytes per run (also the default of a schedule without max_bytes). */
    max_bytes: positiveInt.default(1 << 30),
    max_per_app: positiveInt.max(10_000).default(10),
    max_per_user: positiveInt.max(10_000).default(20),
    /** Runs kept per schedule (older ones are deleted as new ones are recorded). */
    runs_kept: positiveInt.max(100_000).default(500),
  })
  .optional();

const schema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Serve HTTPS (HTTP/1.1 and HTTP/2); absent = plain HTTP (behind gorouter, which terminates TLS). */
        tls: z.strictObject({ certificate: filePath, private_key: filePath }).optional(),
      })
      .prefault({}),
    uaa: upstream.extend({
      /** Expected `iss`; absent = discovered from the UAA's openid-configuration. */
      issuer: z.string().min(1).optional(),
      /** Least time between two refetches of `/token_keys` caused by an unknown key id or a bad signature. */
      key_refetch_interval_seconds: z.number().min(0).max(3600).default(30),
    }),
    cloud_controller: upstream,
    agents: z.strictObject({
      /** Port every agent listens on (at the cell IP Cloud Controller reports as `host`). */
      port: z.number().int().min(1).max(65535).default(9494),
      /** Optional map from a cell `host` (as CC reports it) to the agent's `host:port`, overriding `port`. */
      endpoints: z.record(z.string().min(1), hostPort).default({}),
      mtls: z.strictObject({
        certificate: filePath,
        private_key: filePath,
        ca: filePath,
        /** Name the agents' certificates must carry (CN/SAN); checked instead of the dialled address. */
        server_name: z.string().min(1).default('pcap-agent.service.cf.internal'),
      }),
      connect_timeout_seconds: positiveInt.max(120).default(10),
      /**
       * Addresses removed from every capture with `not host …` so a capture never sees the API's own stream.
       * Absent = this machine's non-loopback interface addresses.
       */
      exclude_addresses: z.array(z.string().refine((a) => isIP(a) !== 0, 'must be an IP address')).optional(),
    }),
    policy: z
      .strictObject({
        require_ssh_enabled: z.boolean().default(false),
        admins_only: z.boolean().default(false),
        allow_read_only_admins: z.boolean().default(false),
      })
      .prefault({}),
    limits: z
      .strictObject({
        concurrent_captures: positiveInt.max(100_000).default(50),
        concurrent_captures_per_user: positiveInt.max(100_000).default(3),
        instances_per_capture: positiveInt.max(10_000).default(20),
        max_duration_seconds: positiveInt.max(7 * 24 * 3600).default(3600),
        max_bytes: positiveInt.optional(),
        max_packets: positiveInt.optional(),
        snaplen_max: z.number().int().min(SNAPLEN_MIN).max(SNAPLEN_MAX).default(65535),
      })
      .prefault({}),
    stream: z
      .strictObject({
        /** Bytes waiting for a slow client above which packets are discarded (and counted). */
        high_watermark_bytes: positiveInt.default(8 << 20),
        /** Bytes below which a congested client stream resumes. */
        low_watermark_bytes: positiveInt.default(4 << 20),
        /**
         * A young-generation GC after every this many bytes read from agents (all captures together), so that
         * dead packet buffers are freed early; 0 = off (libs/capture GcPacer). 4 MiB: bench/api measured 10–11%
         * less API CPU than with 1 MiB for 6–7 MB more RSS (docs/api.md).
         */
        gc_pacing_bytes: z
          .number()
          .int()
          .min(0)
          .max(1 << 30)
          .default(4 << 20),
      })
      .prefault({})
      .refine((s) => s.low_watermark_bytes < s.high_watermark_bytes, {
        message: 'low_watermark_bytes must be below high_watermark_bytes',
      }),
    drain_timeout_seconds: positiveInt.max(3600).default(30),
    cli: z
      .strictObject({
        /** Folder whose files `GET /cli/<file>` serves (the cf CLI plugin binaries); absent = 404. */
        binaries_dir: filePath.optional(),
      })
      .prefault({}),
    logging: z.strictObject({ format: z.enum(['json', 'text']).default('json') }).prefault({}),
    /**
     * BOSH mode (`POST /bosh/captures`): capture the VMs of a BOSH deployment with the user's token of the
     * director's UAA. Absent = BOSH mode off (404).
     */
    bosh: z
      .strictObject({
        director: upstream,
        /** The director's UAA; absent = the UAA the director names in `GET /info` (trusting `director.ca`). */
        uaa: upstream.extend({ issuer: z.string().min(1).optional() }).optional(),
        /** The token must carry one of these scopes. */
        token_scopes: z.array(z.string().min(1)).min(1).default(['bosh.admin']),
      })
      .optional(),
    /**
     * Storage sinks users may name in a capture request (`sink: <name>`), keyed by that name. Only `kind: s3` so
     * far; endpoint, bucket and credentials never come from a request.
     */
    sinks: z
      .record(
        z.string().regex(SINK_NAME, 'sink names are 1-63 of a-z 0-9 _ - (starting with a letter or digit)'),
        s3SinkConfigSchema,
      )
      .default({}),
    health: z
      .strictObject({
        /** A storage sink's check (S3: HeadBucket) that has not answered after this long is aborted and reported. */
        sink_check_timeout_seconds: z.number().min(0.1).max(60).default(2),
        /** How long a sink's state is reused (by `/health` and `/metrics`) after its check ended. */
        sink_check_interval_seconds: z.number().min(0).max(3600).default(15),
        /**
         * Show why a sink failed its check in `/health`, which is unauthenticated: reasons can name the bucket, the
         * endpoint's host and address. Off by default; the reason is always logged when a sink's state changes.
         */
        show_sink_reasons: z.boolean().default(false),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /** Serve `GET /metrics` (Prometheus text format, no authentication) on the API's listener. */
        enabled: z.boolean().default(true),
        /** Label per-capture series with org, space and app names (one series per app: opt in knowingly). */
        app_labels: z.boolean().default(false),
      })
      .prefault({}),
    schedules,
  })
  .refine((c) => c.uaa.skip_tls_verify === false || c.uaa.ca === undefined, {
    message: 'give either ca or skip_tls_verify, not both',
    path: ['uaa', 'skip_tls_verify'],
  })
  .refine((c) => c.cloud_controller.skip_tls_verify === false || c.cloud_controller.ca === undefined, {
    message: 'give either ca or skip_tls_verify, not both',
    path: ['cloud_controller', 'skip_tls_verify'],
  })
  .refine(
    (c) =>
      c.bosh === undefined || c.bosh.director.skip_tls_verify === false || c.bosh.director.ca === undefined,
    {
      message: 'give either ca or skip_tls_verify, not both',
      path: ['bosh', 'director', 'skip_tls_verify'],
    },
  )
  .refine((c) => c.schedules === undefined || Object.keys(c.sinks).length > 0, {
    message: 'scheduled captures store to a sink: configure at least one under sinks',
    path: ['schedules'],
  })
  .refine((c) => c.limits.concurrent_captures_per_user <= c.limits.concurrent_captures, {
    message: 'must not exceed limits.concurrent_captures',
    path: ['limits', 'concurrent_captures_per_user'],
  });

export type ApiConfigData = z.output<typeof schema>;

/**
 * The API's configuration. Parsed once at boot; every problem is reported together, then the process stops.
 * Nothing outside `config/` reads files or the environment for settings.
 */
export class ApiConfig {
  private constructor(readonly data: ApiConfigData) {}

  get listen(): ApiConfigData['listen'] {
    return this.data.listen;
  }
  get uaa(): ApiConfigData['uaa'] {
    return this.data.uaa;
  }
  get cloudController(): ApiConfigData['cloud_controller'] {
    return this.data.cloud_controller;
  }
  get agents(): ApiConfigData['agents'] {
    return this.data.agents;
  }
  get policy(): ApiConfigData['policy'] {
    return this.data.policy;
  }
  get limits(): ApiConfigData['limits'] {
    return this.data.limits;
  }
  get stream(): ApiConfigData['stream'] {
    return this.data.stream;
  }
  get drainTimeoutSeconds(): number {
    return this.data.drain_timeout_seconds;
  }
  get cli(): ApiConfigData['cli'] {
    return this.data.cli;
  }
  get bosh(): ApiConfigData['bosh'] {
    return this.data.bosh;
  }
  get logging(): ApiConfigData['logging'] {
    return this.data.logging;
  }
  get schedules(): ApiConfigData['schedules'] {
    return this.data.schedules;
  }
  get health(): ApiConfigData['health'] {
    return this.data.health;
  }
  get metrics(): ApiConfigData['metrics'] {
    return this.data.metrics;
  }
  /** The configured storage sinks, each with its name. */
  get sinks(): readonly S3SinkConfig[] {
    return Object.entries(this.data.sinks).map(([name, sink]) => ({ ...sink, name }));
  }
  /** The storage sink named `name`, if configured. */
  sink(name: string): S3SinkConfig | undefined {
    const sink = Object.hasOwn(this.data.sinks, name) ? this.data.sinks[name] : undefined;
    return sink === undefined ? undefined : { ...sink, name };
  }

  /** Reads and validates a YAML file; throws one ApiConfigError naming the file and listing each bad key. */
  static load(file: string): ApiConfig {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ApiConfigError(file, [`cannot read: ${(err as Error).message}`], { cause: err });
    }
    let raw: unknown;
    try {
      raw = parseYaml(text, { prettyErrors: true });
    } catch (err) {
      throw new ApiConfigError(file, [`invalid YAML: ${(err as Error).message}`], { cause: err });
    }
    return ApiConfig.fromObject(raw ?? {}, file);
  }

  /** Validates an already parsed document (as `load` does after reading YAML). */
  static fromObject(raw: unknown, source = '<object>'): ApiConfig {
    const result = schema.safeParse(raw);
    if (!result.success) {
      throw new ApiConfigError(
        source,
        result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
      );
    }
    return new ApiConfig(result.data);
  }
}
