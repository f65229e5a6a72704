import { readFile } from 'node:fs/promises';

import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { AgentConfig } from '../config/agent-config';
import { CellStateError } from './target.errors';

const entrySchema = z.object({
  handle: z.string().min(1),
  ip: z.string().optional(),
  metadata: z
    .object({
      app_id: z.string().optional(),
      space_id: z.string().optional(),
      org_id: z.string().optional(),
      container_workload: z.string().optional(),
    })
    .loose()
    .optional(),
});
const storeSchema = z.record(z.string(), entrySchema.loose());

/** One container of the cell as recorded by silk's CNI wrapper. */
export interface ContainerEntry {
  /** Garden handle = CC's instance_guid = runc container id. */
  readonly handle: string;
  readonly ip: string | undefined;
  readonly appId: string | undefined;
  readonly spaceId: string | undefined;
  readonly orgId: string | undefined;
  /** `app`, `task` or `staging`. */
  readonly workload: string | undefined;
}

/**
 * Reads the cell's container metadata store (`store.json`, keyed by handle). The file changes as containers come
 * and go, so it is read on every lookup; it is small (one entry per container on the cell).
 */
@Injectable()
export class ContainerStore {
  constructor(@Inject(AgentConfig) private readonly config: AgentConfig) {}

  /** All entries; throws CellStateError when the file is missing or not in the expected format. */
  async entries(): Promise<ContainerEntry[]> {
    const file = this.config.cell.container_store;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new CellStateError(`cannot read the container store ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const parsed = storeSchema.safeParse(raw);
    if (!parsed.success) {
      throw new CellStateError(`the container store ${file} is not in the expected format`, {
        cause: parsed.error,
      });
    }
    return Object.values(parsed.data).map((e) => ({
      handle: e.handle,
      ip: e.ip,
      appId: e.metadata?.app_id,
      spaceId: e.metadata?.space_id,
      orgId: e.metadata?.org_id,
      workload: e.metadata?.container_workload,
    }));
  }
}
