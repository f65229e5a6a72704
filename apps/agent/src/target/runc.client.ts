import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { AgentConfig } from '../config/agent-config';
import { CellStateError, ContainerNotFoundError } from './target.errors';

const execFileAsync = promisify(execFile);

const stateSchema = z.object({ id: z.string(), pid: z.number().int(), status: z.string() }).loose();

export type RuncState = z.output<typeof stateSchema>;

/** The one seam through which the agent asks runc about containers. Never uses a shell. */
@Injectable()
export class RuncClient {
  constructor(@Inject(AgentConfig) private readonly config: AgentConfig) {}

  /**
   * `runc --root <root> state <handle>`. Throws ContainerNotFoundError when runc does not know the container or
   * it is not running, CellStateError when runc itself fails.
   */
  async state(handle: string): Promise<RuncState> {
    const { runc_binary: binary, runc_root: root, runc_timeout_seconds: timeout } = this.config.cell;
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(binary, ['--root', root, 'state', handle], {
        encoding: 'utf8',
        timeout: timeout * 1000,
        maxBuffer: 1 << 20,
      }));
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      const stderr = (e.stderr ?? '').trim();
      if (/does not exist|not exist|no such/i.test(stderr)) {
        throw new ContainerNotFoundError(`container ${handle} is not running on this cell`, { cause: err });
      }
      throw new CellStateError(`runc state ${handle} failed: ${stderr || e.message}`, { cause: err });
    }
    let state: RuncState;
    try {
      state = stateSchema.parse(JSON.parse(stdout));
    } catch (err) {
      throw new CellStateError(`runc state ${handle} printed unexpected output`, { cause: err });
    }
    if (state.status !== 'running' || state.pid <= 0) {
      throw new ContainerNotFoundError(`container ${handle} is ${state.status}, not running`);
    }
    return state;
  }
}
