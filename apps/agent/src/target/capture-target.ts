/** What the API asks the agent to capture. */
export type CaptureTarget =
  | {
      readonly kind: 'instance';
      readonly appGuid: string;
      /** CC's instance_guid = the Garden container handle. */
      readonly instanceGuid?: string;
      /** CC's instance_internal_ip; used when instanceGuid is absent (older CC). */
      readonly instanceIp?: string;
    }
  | { readonly kind: 'host' };

/** A target located on this cell/VM. */
export interface ResolvedTarget {
  readonly kind: CaptureTarget['kind'];
  /** Namespace to open the capture in; undefined = the agent's own (host) namespace. */
  readonly netns: string | undefined;
  /** Set for instances. */
  readonly container?: {
    readonly handle: string;
    readonly pid: number;
    readonly ip: string | undefined;
    readonly appId: string;
    readonly spaceId: string | undefined;
    readonly orgId: string | undefined;
  };
}
