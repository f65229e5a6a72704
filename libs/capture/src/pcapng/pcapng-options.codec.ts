import { CaptureFormatError } from './capture-format.error';
import { CommonOption } from './pcapng.constants';

/** One raw pcapng option: its code and its value bytes (without padding). */
export interface PcapngOption {
  readonly code: number;
  readonly value: Buffer;
}

/** Rounds up to the next multiple of 4: every pcapng field is padded to 32 bits. */
export function pad4(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Bytes the options take in a block: each option's 4-byte header plus its value padded to 32 bits, then the
 * 4-byte opt_endofopt. An empty list takes no bytes at all (the option section is omitted).
 */
export function optionsLength(options: readonly PcapngOption[]): number {
  if (options.length === 0) return 0;
  let total = 4;
  for (const option of options) total += 4 + pad4(option.value.length);
  return total;
}

/**
 * Writes `options` little-endian at `offset` (padding bytes zeroed, terminated by opt_endofopt) and returns the
 * offset after them. The caller sized `target` with {@link optionsLength}.
 */
export function writeOptions(target: Buffer, offset: number, options: readonly PcapngOption[]): number {
  if (options.length === 0) return offset;
  let off = offset;
  for (const { code, value } of options) {
    if (code === CommonOption.END_OF_OPT) throw new RangeError('opt_endofopt is written by the encoder');
    if (code < 0 || code > 0xffff) throw new RangeError(`option code ${code} is not a 16-bit number`);
    if (value.length > 0xffff)
      throw new RangeError(`option ${code} is ${value.length} bytes; the maximum is 65535`);
    target.writeUInt16LE(code, off);
    target.writeUInt16LE(value.length, off + 2);
    value.copy(target, off + 4);
    const padded = pad4(value.length);
    target.fill(0, off + 4 + value.length, off + 4 + padded);
    off += 4 + padded;
  }
  target.writeUInt32LE(0, off);
  return off + 4;
}

/** A UTF-8 string option. */
export function stringOption(code: number, text: string): PcapngOption {
  return { code, value: Buffer.from(text, 'utf8') };
}

/** An unsigned 64-bit little-endian option (counters). */
export function uint64Option(code: number, value: number | bigint): PcapngOption {
  const big = BigInt(value);
  if (big < 0n || big > 0xffff_ffff_ffff_ffffn) throw new RangeError(`option ${code}: ${value} is not a u64`);
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(big);
  return { code, value: buf };
}

/**
 * A timestamp option in the pcapng timestamp layout (two 32-bit words, high word first, each in the section's
 * byte order), as isb_starttime/isb_endtime require; `units` are in the interface's if_tsresol.
 */
export function timestampOption(code: number, units: bigint): PcapngOption {
  if (units < 0n || units > 0xffff_ffff_ffff_ffffn)
    throw new RangeError(`option ${code}: ${units} is not a u64`);
  const buf = Buffer.alloc(8);
  buf.writeUInt32LE(Number(units >> 32n), 0);
  buf.writeUInt32LE(Number(units & 0xffff_ffffn), 4);
  return { code, value: buf };
}

/** An opt_custom option: the Private Enterprise Number followed by the payload. */
export function customOption(code: number, pen: number, payload: Buffer): PcapngOption {
  const value = Buffer.alloc(4 + payload.length);
  value.writeUInt32LE(pen, 0);
  payload.copy(value, 4);
  return { code, value };
}

/**
 * Parses the options area `data[start, end)` of a little-endian block. Stops at opt_endofopt or at `end`
 * (a missing opt_endofopt is tolerated, as Wireshark does). Values are views into `data`, not copies.
 * @throws CaptureFormatError when an option runs past `end`.
 */
export function parseOptions(data: Buffer, start: number, end: number): PcapngOption[] {
  const options: PcapngOption[] = [];
  let off = start;
  while (off + 4 <= end) {
    const code = data.readUInt16LE(off);
    const length = data.readUInt16LE(off + 2);
    if (code === CommonOption.END_OF_OPT) break;
    const valueEnd = off + 4 + length;
    if (valueEnd > end) {
      throw new CaptureFormatError(`pcapng option ${code} (length ${length}) runs past the end of its block`);
    }
    options.push({ code, value: data.subarray(off + 4, valueEnd) });
    off += 4 + pad4(length);
  }
  return options;
}

/** UTF-8 text of the first option with `code`, if any. */
export function findString(options: readonly PcapngOption[], code: number): string | undefined {
  const option = options.find((o) => o.code === code);
  return option === undefined ? undefined : option.value.toString('utf8');
}

/** UTF-8 texts of all options with `code` (opt_comment may repeat). */
export function findStrings(options: readonly PcapngOption[], code: number): string[] {
  return options.filter((o) => o.code === code).map((o) => o.value.toString('utf8'));
}

/** The first option with `code` read as a little-endian u64; a value of another size is a format error. */
export function findUint64(options: readonly PcapngOption[], code: number): bigint | undefined {
  const option = options.find((o) => o.code === code);
  if (option === undefined) return undefined;
  if (option.value.length !== 8) {
    throw new CaptureFormatError(`pcapng option ${code} must be 8 bytes, got ${option.value.length}`);
  }
  return option.value.readBigUInt64LE(0);
}

/** The first option with `code` read in the pcapng timestamp layout (high word first), in if_tsresol units. */
export function findTimestamp(options: readonly PcapngOption[], code: number): bigint | undefined {
  const option = options.find((o) => o.code === code);
  if (option === undefined) return undefined;
  if (option.value.length !== 8) {
    throw new CaptureFormatError(
      `pcapng timestamp option ${code} must be 8 bytes, got ${option.value.length}`,
    );
  }
  return (BigInt(option.value.readUInt32LE(0)) << 32n) | BigInt(option.value.readUInt32LE(4));
}
