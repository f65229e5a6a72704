import type { ControlMessageFields } from '@pcap/capture';
import type { BoshTarget, CaptureTargets } from '@pcap/cf';

import type { AgentTarget } from '../agents/agent.client';

/** One instance a capture asks an agent for, whatever kind of target it is (app instance or BOSH VM). */
export interface PlannedInstance {
  /** Short, unique within the capture: `web/0`, `router/8a1c…`; the merge input's label. */
  readonly label: string;
  /** For people: `instance 0 of my-app (web, cell 10.0.16.5)`. */
  readonly description: string;
  /** Where its agent listens (without port); `undefined` when it has none. */
  readonly host: string | undefined;
  readonly available: boolean;
  readonly unavailableReason?: string;
  /** The agent request's `target`. */
  readonly agentTarget: AgentTarget;
  /** The agent request's `origin` labels: they become the interface description. */
  readonly origin: Readonly<Record<string, string>>;
  /** Fields of messages about this instance (INSTANCE_UNAVAILABLE). */
  readonly messageFields: ControlMessageFields;
  /** How the audit event names it. */
  readonly auditKey: number | string;
}

/** What a capture runs on, resolved and authorised: its instances and how audit events name the subject. */
export interface CapturePlan {
  /** For messages: `app 'my-app'`, `deployment 'cf' (router)`. */
  readonly subject: string;
  /** Fields of every audit event of the capture (org/space/app or deployment/groups). */
  readonly audit: Readonly<Record<string, unknown>>;
  readonly instances: readonly PlannedInstance[];
}

/** The plan of a Cloud Foundry app capture: one instance per app instance, in the container on its cell. */
export function planForApp(targets: CaptureTargets): CapturePlan {
  return {
    subject: `app '${targets.app.name}'`,
    audit: {
      org: targets.org.name,
      space: targets.space.name,
      app: targets.app.name,
      app_guid: targets.app.guid,
      process_type: targets.processType,
    },
    instances: targets.instances.map((t) => {
      const where = t.host === undefined ? '' : `, cell ${t.host}`;
      return {
        label: `${targets.processType}/${t.index}`,
        description: `instance ${t.index} of ${targets.app.name} (${targets.processType}${where})`,
        host: t.host,
        available: t.available,
        ...(t.unavailableReason === undefined ? {} : { unavailableReason: t.unavailableReason }),
        agentTarget: {
          app_guid: targets.app.guid,
          ...(t.instanceGuid === undefined ? {} : { instance_guid: t.instanceGuid }),
          ...(t.internalIp === undefined ? {} : { instance_ip: t.internalIp }),
        },
        origin: {
          org: targets.org.name,
          space: targets.space.name,
          app: targets.app.name,
          process: targets.processType,
          index: String(t.index),
          cell_host: t.host ?? '',
        },
        messageFields: { instanceIndex: t.index },
        auditKey: t.index,
      };
    }),
  };
}

/** The plan of a BOSH capture: one host capture per VM, by the agent on that VM. */
export function planForBosh(
  deployment: string,
  groups: readonly string[],
  targets: readonly BoshTarget[],
): CapturePlan {
  return {
    subject: `deployment '${deployment}' (${groups.join(', ')})`,
    audit: { deployment, instance_groups: [...groups] },
    instances: targets.map((t) => ({
      label: t.origin,
      description: `${t.origin} of deployment ${deployment}${t.host === undefined ? '' : ` (${t.host})`}`,
      host: t.host,
      available: t.available,
      ...(t.available ? {} : { unavailableReason: 'the instance has no VM' }),
      agentTarget: { host: true } as const,
      origin: {
        deployment,
        instance_group: t.group,
        id: t.id,
        ...(t.index === undefined ? {} : { index: String(t.index) }),
        ...(t.az === undefined ? {} : { az: t.az }),
        vm: t.host ?? '',
      },
      messageFields: { instanceId: t.id, instanceGroup: t.group },
      auditKey: t.origin,
    })),
  };
}
