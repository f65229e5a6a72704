import { InvalidFilterError } from '../errors';
import { filterTextProblem, SNAPLEN_DEFAULT } from './capture-options';
import { nativeAddon } from './native-binding';

/** LINKTYPE_ETHERNET. */
export const LINKTYPE_ETHERNET = 1;

/**
 * Compiles a filter with libpcap without opening a device, so a request can be refused before anything starts.
 * Throws InvalidFilterError whose message is libpcap's own text (what tcpdump would print).
 */
export function compileFilter(filter: string, options: { linkType?: number; snaplen?: number } = {}): void {
  const problem = filterTextProblem(filter);
  if (problem) throw new InvalidFilterError(problem);
  const error = nativeAddon().compileFilter(
    filter,
    options.linkType ?? LINKTYPE_ETHERNET,
    options.snaplen ?? SNAPLEN_DEFAULT,
  );
  if (error !== null) throw new InvalidFilterError(`invalid filter '${filter}': ${error}`);
}

/** libpcap's version string, for status endpoints and bug reports. */
export function libpcapVersion(): string {
  return nativeAddon().libVersion();
}
