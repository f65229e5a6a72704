import { readFileSync } from 'node:fs';

import type { AgentConfig } from './agent-config';
import { AgentConfigError } from './agent-config.error';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

/** Reads the agent's key, certificate and client CA; every unreadable file is listed in one AgentConfigError. */
export function readTlsMaterial(config: AgentConfig): TlsMaterial {
  const problems: string[] = [];
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      problems.push(`tls.${key}: cannot read ${file}: ${(err as Error).message}`);
      return Buffer.alloc(0);
    }
  };
  const material = {
    key: read('private_key', config.tls.private_key),
    cert: read('certificate', config.tls.certificate),
    ca: read('client_ca', config.tls.client_ca),
  };
  if (problems.length > 0) throw new AgentConfigError('tls', problems);
  return material;
}
