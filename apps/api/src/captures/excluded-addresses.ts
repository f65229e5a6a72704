import { networkInterfaces } from 'node:os';

import type { ApiConfig } from '../config/api-config';

/** Injection token of the addresses every capture excludes (the API's own). */
export const EXCLUDED_ADDRESSES = Symbol('pcap:EXCLUDED_ADDRESSES');

/**
 * `agents.exclude_addresses`, or this machine's non-loopback addresses (link-local IPv6 left out: a scoped address
 * is no BPF host). Loopback is never excluded: it is not how agents see the API, and inside a container
 * `127.0.0.1` is the app's own traffic.
 */
export function excludedAddresses(config: ApiConfig): readonly string[] {
  if (config.agents.exclude_addresses !== undefined) return config.agents.exclude_addresses;
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80')))
    .map((a) => a.address);
}
