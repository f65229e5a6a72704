import { readFileSync } from 'node:fs';

import type { ApiConfig } from './api-config';
import { ApiConfigError } from './api-config.error';

/** Injection token of the {@link ApiTlsMaterial} read at boot. */
export const API_TLS = Symbol('pcap:API_TLS');

/** PEM material the API needs at run time, read once at boot. */
export interface ApiTlsMaterial {
  /** The API's own listener (when `listen.tls` is set). */
  readonly server?: { readonly key: Buffer; readonly cert: Buffer };
  /** The client certificate presented to agents, and the CA their certificates must chain to. */
  readonly agents: { readonly key: Buffer; readonly cert: Buffer; readonly ca: Buffer };
  readonly uaaCa?: Buffer;
  readonly ccCa?: Buffer;
  /** BOSH mode: the CAs of the director and of its UAA. */
  readonly boshDirectorCa?: Buffer;
  readonly boshUaaCa?: Buffer;
}

/** Reads every configured PEM file; all unreadable files are listed in one ApiConfigError. */
export function readTlsMaterial(config: ApiConfig): ApiTlsMaterial {
  const problems: string[] = [];
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      problems.push(`${key}: cannot read ${file}: ${(err as Error).message}`);
      return Buffer.alloc(0);
    }
  };
  const optional = (key: string, file: string | undefined): Buffer | undefined =>
    file === undefined ? undefined : read(key, file);
  const listenTls = config.listen.tls;
  const mtls = config.agents.mtls;
  const material: ApiTlsMaterial = {
    ...(listenTls === undefined
      ? {}
      : {
          server: {
            key: read('listen.tls.private_key', listenTls.private_key),
            cert: read('listen.tls.certificate', listenTls.certificate),
          },
        }),
    agents: {
      key: read('agents.mtls.private_key', mtls.private_key),
      cert: read('agents.mtls.certificate', mtls.certificate),
      ca: read('agents.mtls.ca', mtls.ca),
    },
    uaaCa: optional('uaa.ca', config.uaa.ca),
    ccCa: optional('cloud_controller.ca', config.cloudController.ca),
    ...(config.bosh === undefined
      ? {}
      : {
          boshDirectorCa: optional('bosh.director.ca', config.bosh.director.ca),
          boshUaaCa: optional('bosh.uaa.ca', config.bosh.uaa?.ca),
        }),
  };
  if (problems.length > 0) throw new ApiConfigError('TLS files', problems);
  return material;
}
