/**
 * In-band control messages: what the agent, the API or the merge tells the reader of a capture stream besides
 * packets. They travel inside the pcapng stream (see docs/pcapng-stream.md) so a file stays one self-describing
 * artefact that Wireshark reads cleanly and the CLI can print.
 */

/** Every message type, in wire spelling. */
export const CONTROL_MESSAGE_TYPES = [
  'INSTANCE_UNAVAILABLE',
  'START_CAPTURE_FAILED',
  'INVALID_REQUEST',
  'CONGESTED',
  'LIMIT_REACHED',
  'CAPTURE_STOPPED',
  'CONNECTION_ERROR',
] as const;

export type ControlMessageType = (typeof CONTROL_MESSAGE_TYPES)[number];

/**
 * Structured details. Well-known keys are typed; others are allowed for forward compatibility. Values are
 * JSON scalars only.
 */
export interface ControlMessageFields {
  /** CONGESTED: packets discarded in this episode (or since the last report). */
  readonly discardedPackets?: number;
  /** CONGESTED: bytes discarded, same scope as `discardedPackets`. */
  readonly discardedBytes?: number;
  /** LIMIT_REACHED: which limit (`duration`, `bytes`, `packets`, ...). */
  readonly limit?: string;
  /** The application instance index the message is about. */
  readonly instanceIndex?: number;
  /** The pcapng interface id (in the stream carrying the message) the message is about. */
  readonly interfaceId?: number;
  readonly [key: string]: string | number | boolean | undefined;
}

/** One control message. Immutable value; `timestampNs` is nanoseconds since the Unix epoch. */
export interface ControlMessage {
  readonly type: ControlMessageType;
  /** Who says so: e.g. `agent cell-1/instance 2`, `api`, `merge`. */
  readonly origin: string;
  /** A sentence a person can act on. */
  readonly message: string;
  readonly timestampNs: bigint;
  readonly fields?: ControlMessageFields;
}

/** True if `value` names a known message type. */
export function isControlMessageType(value: unknown): value is ControlMessageType {
  return typeof value === 'string' && (CONTROL_MESSAGE_TYPES as readonly string[]).includes(value);
}

/** Wall-clock now in nanoseconds since the epoch (millisecond precision), for stamping messages. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
