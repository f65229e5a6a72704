import { readFileSync } from 'node:fs';

import { SNAPLEN_MAX, SNAPLEN_MIN, deviceNameProblem } from '@pcap/capture';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { AgentConfigError } from './agent-config.error';

const filePath = z.string().min(1, 'must be a file path');
const positiveInt = z.number().int().positive();
const deviceName = z.string().superRefine((value, ctx) => {
  const problem = deviceNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const schema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(9494),
      })
      .prefault({}),
    tls: z.strictObject({
      certificate: filePath,
      private_key: filePath,
      client_ca: filePath,
      /** Allowed subject CNs of the API's client certificate; absent = any certificate the CA signed. */
      client_common_names: z.array(z.string().min(1)).min(1).optional(),
    }),
    cell: z
      .strictObject({
        name: z.string().min(1).optional(),
        container_store: filePath.default('/var/vcap/data/container-metadata/store.json'),
        runc_binary: filePath.default('runc'),
        runc_root: filePath.default('/run/containerd/runc/garden'),
        runc_timeout_seconds: positiveInt.max(60).default(5),
      })
      .prefault({}),
    capture: z
      .strictObject({
        default_device: deviceName.default('eth0'),
        snaplen_default: z.number().int().min(SNAPLEN_MIN).max(SNAPLEN_MAX).default(65535),
        snaplen_max: z.number().int().min(SNAPLEN_MIN).max(SNAPLEN_MAX).default(SNAPLEN_MAX),
        /** Kernel ring buffer per capture in bytes; 0 = chosen from the snaplen. */
        buffer_size: z
          .number()
          .int()
          .min(0)
          .max(1 << 30)
          .default(0),
        buffer_size_max: z
          .number()
          .int()
          .min(0)
          .max(1 << 30)
          .default(64 << 20),
        max_concurrent: positiveInt.max(1000).default(10),
        /**
         * libpcap immediate mode (TPACKET_V2, one snaplen-sized ring slot per packet, larger rings). Off (default):
         * TPACKET_V3 blocks handed over when full or after `block_timeout_ms`; measured ~10x cheaper in CPU per
         * packet and without the 64 MiB rings immediate mode needs at snaplen 65535 (docs/capture-engine.md).
         */
        immediate: z.boolean().default(false),
        block_timeout_ms: positiveInt.max(10000).default(50),
        /**
         * `process` (default): every capture runs in its own `pcap_capture_worker` process, so a crash in libpcap or
         * native code ends that capture only. `in-process`: captures run inside the agent (no extra process per
         * capture: a little less CPU and memory per capture, but a native crash takes the agent down).
         */
        isolation: z.enum(['process', 'in-process']).default('process'),
        /**
         * A young-generation GC after every this many bytes of packet data (all captures together), so that dead
         * packet buffers (memory outside the V8 heap) are freed while young instead of piling up; 0 = off
         * (libs/capture GcPacer, docs/agent.md).
         */
        gc_pacing_bytes: z
          .number()
          .int()
          .min(0)
          .max(1 << 30)
          .default(1 << 20),
        /** Upper bound of one capture's duration; absent = unbounded (until the API stops it). */
        max_duration_seconds: positiveInt.optional(),
        drain_timeout_seconds: positiveInt.max(3600).default(10),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /**
         * A plain-HTTP listener serving only `GET /metrics` for Prometheus (which does not hold the API's client
         * certificate); absent = metrics only on the mTLS listener. Bind it to an address only the scraper reaches.
         */
        listen: z
          .strictObject({
            host: z.string().min(1).default('127.0.0.1'),
            port: z.number().int().min(0).max(65535),
          })
          .optional(),
        /** Label per-capture series with org, space and app names (one series per app: opt in knowingly). */
        app_labels: z.boolean().default(false),
      })
      .prefault({}),
    queue: z
      .strictObject({
        /** Bytes waiting for the API above which packets are discarded (and counted). */
        high_watermark: positiveInt.default(8 << 20),
        /** Bytes below which a congested stream resumes and reports its discards. */
        low_watermark: positiveInt.default(4 << 20),
      })
      .prefault({})
      .refine((q) => q.low_watermark < q.high_watermark, {
        message: 'low_watermark must be below high_watermark',
      }),
  })
  .refine((c) => c.capture.snaplen_default <= c.capture.snaplen_max, {
    message: 'capture.snaplen_default must not exceed capture.snaplen_max',
    path: ['capture', 'snaplen_default'],
  });

export type AgentConfigData = z.output<typeof schema>;

/** The agent's configuration. Parsed once at boot; every problem is reported together, then the process stops. */
export class AgentConfig {
  private constructor(readonly data: AgentConfigData) {}

  get listen(): AgentConfigData['listen'] {
    return this.data.listen;
  }
  get tls(): AgentConfigData['tls'] {
    return this.data.tls;
  }
  get cell(): AgentConfigData['cell'] {
    return this.data.cell;
  }
  get capture(): AgentConfigData['capture'] {
    return this.data.capture;
  }
  get queue(): AgentConfigData['queue'] {
    return this.data.queue;
  }
  get metrics(): AgentConfigData['metrics'] {
    return this.data.metrics;
  }

  /** Reads and validates a YAML file; throws one AgentConfigError naming the file and listing each bad key. */
  static load(file: string): AgentConfig {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AgentConfigError(file, [`cannot read: ${(err as Error).message}`], { cause: err });
    }
    let raw: unknown;
    try {
      raw = parseYaml(text, { prettyErrors: true });
    } catch (err) {
      throw new AgentConfigError(file, [`invalid YAML: ${(err as Error).message}`], { cause: err });
    }
    return AgentConfig.fromObject(raw ?? {}, file);
  }

  /** Validates an already parsed document (as `load` does after reading YAML). */
  static fromObject(raw: unknown, source = '<object>'): AgentConfig {
    const result = schema.safeParse(raw);
    if (!result.success) {
      throw new AgentConfigError(
        source,
        result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
      );
    }
    return new AgentConfig(result.data);
  }
}
