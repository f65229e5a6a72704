import { z } from 'zod';

export const boshInfoSchema = z.object({
  name: z.string(),
  uuid: z.string(),
  version: z.string(),
  user_authentication: z.object({
    type: z.string(),
    options: z.object({ url: z.string().optional(), urls: z.array(z.string()).optional() }).loose(),
  }),
});

/** `GET {director}/info` (no auth). */
export interface BoshDirectorInfo {
  readonly name: string;
  readonly uuid: string;
  readonly version: string;
  /** `uaa` on every director this project supports. */
  readonly authType: string;
  /** The director's UAA, which issues the tokens BOSH mode validates. */
  readonly uaaUrl: string | undefined;
}

export const boshInstanceSchema = z.object({
  agent_id: z.string().nullable().optional(),
  cid: z.string().nullable().optional(),
  job: z.string(),
  index: z.number().nullable().optional(),
  id: z.string(),
  az: z.string().nullable().optional(),
  ips: z.array(z.string()).default([]),
  vm_created_at: z.string().nullable().optional(),
  expects_vm: z.boolean().optional(),
});

/** One entry of `GET {director}/deployments/<d>/instances`. */
export interface BoshInstance {
  readonly agentId: string | undefined;
  /** VM cid; `undefined` when the instance has no VM. */
  readonly cid: string | undefined;
  /** Instance group name (BOSH calls it `job` here). */
  readonly job: string;
  readonly index: number | undefined;
  readonly id: string;
  readonly az: string | undefined;
  readonly ips: readonly string[];
  readonly expectsVm: boolean;
}

/** Which instances of a deployment to capture. */
export interface BoshTargetSelection {
  /** Instance groups; at least one. */
  readonly groups: readonly string[];
  /** Optional instance ids; when given, only these (within the groups). */
  readonly ids?: readonly string[];
}

/** A VM to capture on: its agent listens at `host:agentPort`. */
export interface BoshTarget {
  readonly deployment: string;
  readonly group: string;
  readonly id: string;
  readonly index: number | undefined;
  readonly az: string | undefined;
  /** `ips[0]`; `undefined` when the instance has no VM (then `available` is false). */
  readonly host: string | undefined;
  /** `group/id`, as pcap-release names message origins. */
  readonly origin: string;
  readonly available: boolean;
}
