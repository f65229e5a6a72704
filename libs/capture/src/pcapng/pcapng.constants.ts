/**
 * Numbers from the pcapng specification (draft-ietf-opsawg-pcapng). Only what this library reads or writes.
 */

/** Block types. */
export const PcapngBlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  CUSTOM: 0x00000bad,
  CUSTOM_NO_COPY: 0x40000bad,
} as const;

/** The SHB byte-order magic as read with the section's own byte order. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** The same magic as seen when a big-endian section is read as little-endian. */
export const PCAPNG_BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

/** Option codes valid in every block. */
export const CommonOption = {
  END_OF_OPT: 0,
  COMMENT: 1,
  /** opt_custom, UTF-8 string, may be copied. */
  CUSTOM_STRING: 2988,
  /** opt_custom, binary, may be copied. */
  CUSTOM_BINARY: 2989,
  /** opt_custom, UTF-8 string, must not be copied. */
  CUSTOM_STRING_NO_COPY: 19372,
  /** opt_custom, binary, must not be copied. */
  CUSTOM_BINARY_NO_COPY: 19373,
} as const;

/** Section Header Block options. */
export const ShbOption = { HARDWARE: 2, OS: 3, USER_APPL: 4 } as const;

/** Interface Description Block options. */
export const IdbOption = {
  NAME: 2,
  DESCRIPTION: 3,
  SPEED: 8,
  TSRESOL: 9,
  FILTER: 11,
  OS: 12,
  HARDWARE: 15,
} as const;

/** Interface Statistics Block options. */
export const IsbOption = {
  START_TIME: 2,
  END_TIME: 3,
  IF_RECV: 4,
  IF_DROP: 5,
  FILTER_ACCEPT: 6,
  OS_DROP: 7,
  USR_DELIV: 8,
} as const;

/** Name Resolution Block record types. */
export const NrbRecord = { END: 0, IPV4: 1, IPV6: 2 } as const;

/** if_tsresol for nanoseconds (10^-9 s), the resolution of every PacketBatch. */
export const TSRESOL_NS = 9;
/** if_tsresol for microseconds (10^-6 s); the pcapng default when an IDB carries no if_tsresol. */
export const TSRESOL_US = 6;

/** Frequently used link types (LINKTYPE_* from tcpdump.org). Any other number is accepted as is. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
} as const;

/** Fixed part of an EPB (header, interface id, timestamp, two lengths, trailer). */
export const EPB_FIXED_LENGTH = 32;
/** Smallest block: type, length, trailing length. */
export const MIN_BLOCK_LENGTH = 12;
/** Default bound on a single block accepted by the readers. */
export const DEFAULT_MAX_BLOCK_BYTES = 16 * 1024 * 1024;
