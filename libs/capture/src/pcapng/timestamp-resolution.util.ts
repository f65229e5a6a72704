import { TSRESOL_NS } from './pcapng.constants';

/**
 * Conversions between nanoseconds since the Unix epoch and the timestamp units of an interface, given its raw
 * `if_tsresol` byte: most significant bit clear = 10^-n seconds, set = 2^-n seconds (n = low 7 bits).
 * Off the hot path (bigint arithmetic); batches are always nanoseconds and never go through here.
 */

/** Throws a RangeError for an `if_tsresol` byte this library cannot represent. */
export function assertTsresol(tsresol: number): void {
  if (!Number.isInteger(tsresol) || tsresol < 0 || tsresol > 0xff) {
    throw new RangeError(`if_tsresol must be a byte, got ${tsresol}`);
  }
  const n = tsresol & 0x7f;
  if ((tsresol & 0x80) === 0 ? n > 18 : n > 63) {
    throw new RangeError(`if_tsresol 0x${tsresol.toString(16)} is finer than this library supports`);
  }
}

/** Ticks per second of an interface with this `if_tsresol`. */
export function ticksPerSecond(tsresol: number): bigint {
  const n = BigInt(tsresol & 0x7f);
  return (tsresol & 0x80) === 0 ? 10n ** n : 1n << n;
}

/** Timestamp units of `tsresol` → nanoseconds (truncating any sub-nanosecond remainder). */
export function unitsToNs(units: bigint, tsresol: number): bigint {
  if (tsresol === TSRESOL_NS) return units;
  return (units * 1_000_000_000n) / ticksPerSecond(tsresol);
}

/** Nanoseconds → timestamp units of `tsresol` (truncating: a coarser unit drops the sub-unit remainder). */
export function nsToUnits(ns: bigint, tsresol: number): bigint {
  if (tsresol === TSRESOL_NS) return ns;
  return (ns * ticksPerSecond(tsresol)) / 1_000_000_000n;
}

/** Joins the two 32-bit halves of a pcapng timestamp. */
export function joinTimestamp(high: number, low: number): bigint {
  return (BigInt(high) << 32n) | BigInt(low);
}
