import { CfNotFoundError } from '../errors/cf.error';
import { CloudControllerClient } from './cloud-controller.client';
import {
  type CcApp,
  type CcInstanceState,
  type CcOrganization,
  type CcRequestContext,
  type CcSpace,
} from './cloud-controller.models';

/** One instance to capture, or to report as unavailable. */
export interface CaptureInstanceTarget {
  readonly index: number;
  /** `undefined` when the requested index does not exist at all. */
  readonly state: CcInstanceState | undefined;
  /** The Diego cell's IP, where the agent listens. */
  readonly host?: string;
  /** Garden container handle; missing on older CCs (then match `internalIp` in the container store). */
  readonly instanceGuid?: string;
  readonly internalIp?: string;
  /** RUNNING or STARTING with a cell and a container identity. */
  readonly available: boolean;
  /** Why not, for the "instance unavailable" message. */
  readonly unavailableReason?: string;
}

/** Everything a capture needs about its targets, with names for the pcapng interface descriptions. */
export interface CaptureTargets {
  readonly org: CcOrganization;
  readonly space: Pick<CcSpace, 'guid' | 'name'>;
  readonly app: Pick<CcApp, 'guid' | 'name'>;
  readonly processType: string;
  /** Sorted by index. */
  readonly instances: readonly CaptureInstanceTarget[];
}

export interface ResolveTargetsRequest {
  readonly ctx: CcRequestContext;
  /** As returned by {@link CaptureAuthorizer.authorize}. */
  readonly app: CcApp;
  /** Default `web`. */
  readonly processType?: string;
  /** Instance indexes to capture; default all that CC reports. */
  readonly indexes?: readonly number[];
}

const CAPTURABLE: ReadonlySet<CcInstanceState> = new Set(['RUNNING', 'STARTING']);

/**
 * app → process type → instances (cell, container handle, overlay IP) plus org/space/app names, asked from
 * Cloud Controller with the caller's token. DOWN, crashed or missing instances are returned as unavailable
 * rather than failing the whole capture. An unknown process type → CfNotFoundError.
 */
export class CaptureTargetResolver {
  constructor(private readonly cc: CloudControllerClient) {}

  async resolve(req: ResolveTargetsRequest): Promise<CaptureTargets> {
    const processType = req.processType ?? 'web';
    const [stats, space] = await Promise.all([
      this.cc.getProcessStats(req.ctx, req.app.guid, processType),
      this.cc.getSpace(req.ctx, req.app.spaceGuid),
    ]);
    const org = await this.cc.getOrganization(req.ctx, space.orgGuid);
    const byIndex = new Map(stats.filter((s) => s.type === processType).map((s) => [s.index, s]));
    const wanted = req.indexes === undefined ? [...byIndex.keys()] : [...new Set(req.indexes)];
    if (req.indexes === undefined && wanted.length === 0) {
      throw new CfNotFoundError(`App '${req.app.name}' has no instances of process '${processType}'.`);
    }
    const instances = wanted
      .sort((a, b) => a - b)
      .map((index): CaptureInstanceTarget => {
        const s = byIndex.get(index);
        if (s === undefined) {
          return {
            index,
            state: undefined,
            available: false,
            unavailableReason: `instance ${index} does not exist (process '${processType}' has ${byIndex.size})`,
          };
        }
        const located = s.host !== undefined && (s.instanceGuid !== undefined || s.internalIp !== undefined);
        const available = CAPTURABLE.has(s.state) && located;
        return {
          index,
          state: s.state,
          ...(s.host === undefined ? {} : { host: s.host }),
          ...(s.instanceGuid === undefined ? {} : { instanceGuid: s.instanceGuid }),
          ...(s.internalIp === undefined ? {} : { internalIp: s.internalIp }),
          available,
          ...(available
            ? {}
            : {
                unavailableReason: CAPTURABLE.has(s.state)
                  ? `instance ${index} has no known cell or container`
                  : `instance ${index} is ${s.state}`,
              }),
        };
      });
    return {
      org,
      space: { guid: space.guid, name: space.name },
      app: { guid: req.app.guid, name: req.app.name },
      processType,
      instances,
    };
  }
}
