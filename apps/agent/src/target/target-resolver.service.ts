import { Injectable, Logger } from '@nestjs/common';
import { netnsOfPid } from '@pcap/capture';

import type { CaptureTarget, ResolvedTarget } from './capture-target';
import { ContainerStore, type ContainerEntry } from './container-store';
import { RuncClient } from './runc.client';
import { ContainerNotFoundError, ContainerOwnershipError } from './target.errors';

/**
 * Locates a capture target on this cell: app instance → container store entry (by handle, else by IP) → ownership
 * check → `runc state` → PID → `/proc/<pid>/ns/net`; or the host's own namespace for a host device.
 */
@Injectable()
export class TargetResolver {
  private readonly logger = new Logger(TargetResolver.name);

  constructor(
    private readonly store: ContainerStore,
    private readonly runc: RuncClient,
  ) {}

  /**
   * Throws ContainerNotFoundError (no such container or not running), ContainerOwnershipError (it belongs to
   * another app) or CellStateError (store or runc unreadable).
   */
  async resolve(target: CaptureTarget): Promise<ResolvedTarget> {
    switch (target.kind) {
      case 'host':
        return { kind: 'host', netns: undefined };
      case 'instance':
        return this.resolveInstance(target);
    }
  }

  private async resolveInstance(
    target: Extract<CaptureTarget, { kind: 'instance' }>,
  ): Promise<ResolvedTarget> {
    const entry = this.find(await this.store.entries(), target);
    if (entry.appId !== target.appGuid) {
      this.logger.warn(
        `refused: container ${entry.handle} belongs to app ${entry.appId ?? '(none)'}, not ${target.appGuid}`,
      );
      throw new ContainerOwnershipError(
        `container ${entry.handle} does not belong to app ${target.appGuid}; refusing to capture it`,
      );
    }
    const state = await this.runc.state(entry.handle);
    return {
      kind: 'instance',
      netns: netnsOfPid(state.pid),
      container: {
        handle: entry.handle,
        pid: state.pid,
        ip: entry.ip,
        appId: entry.appId,
        spaceId: entry.spaceId,
        orgId: entry.orgId,
      },
    };
  }

  private find(
    entries: ContainerEntry[],
    target: Extract<CaptureTarget, { kind: 'instance' }>,
  ): ContainerEntry & { appId: string | undefined } {
    if (target.instanceGuid !== undefined) {
      const byHandle = entries.find((e) => e.handle === target.instanceGuid);
      if (!byHandle) {
        throw new ContainerNotFoundError(
          `no container with instance guid ${target.instanceGuid} on this cell`,
        );
      }
      if (target.instanceIp !== undefined && byHandle.ip !== target.instanceIp) {
        throw new ContainerNotFoundError(
          `container ${target.instanceGuid} has IP ${byHandle.ip ?? '(none)'}, not ${target.instanceIp}`,
        );
      }
      return byHandle;
    }
    if (target.instanceIp !== undefined) {
      const byIp = entries.filter((e) => e.ip === target.instanceIp);
      // An IP is reused only after its container is gone; two live entries would make the match ambiguous.
      const own = byIp.filter((e) => e.appId === target.appGuid);
      const match = own.length === 1 ? own[0] : byIp.length === 1 ? byIp[0] : undefined;
      if (match) return match;
      if (byIp.length > 1) {
        throw new ContainerNotFoundError(
          `several containers have IP ${target.instanceIp}; give the instance guid`,
        );
      }
      throw new ContainerNotFoundError(`no container with IP ${target.instanceIp} on this cell`);
    }
    throw new ContainerNotFoundError('an instance target needs an instance guid or an instance IP');
  }
}
