import {
  isControlMessageType,
  type ControlMessage,
  type ControlMessageFields,
} from './control-message.model';
import { encodeEmptyNameResolution } from './pcapng-block.encoder';
import { customOption, stringOption, type PcapngOption } from './pcapng-options.codec';
import { CommonOption } from './pcapng.constants';

/**
 * Control messages on the wire: a pcapng Name Resolution Block with no name records, carrying
 *  - `opt_comment`: a human-readable line (`[pcap-cf] CONGESTED from agent ...: ...`), and
 *  - `opt_custom` (code 2988, UTF-8, copyable): {@link PCAP_CF_PEN} followed by the message as JSON.
 * Why an NRB and not a Custom Block: tshark/Wireshark 4.0 turn every Custom Block into an extra frame, which
 * changes frame numbers and capinfos' duration; an empty NRB is read silently. docs/pcapng-stream.md has the
 * evidence and the JSON schema.
 */

/**
 * Private Enterprise Number in our opt_custom options. 32473 is the IANA number reserved for documentation
 * (RFC 5612), a placeholder until the project registers its own; the JSON marker {@link CONTROL_MESSAGE_MARKER}
 * keeps other users of 32473 from being mistaken for our messages.
 */
export const PCAP_CF_PEN = 32473;
/** Key and value every message JSON carries (wire format version). */
export const CONTROL_MESSAGE_MARKER = 'pcapcf';
export const CONTROL_MESSAGE_VERSION = 1;

/** The JSON object as it appears on the wire. */
interface ControlMessageJson {
  readonly [CONTROL_MESSAGE_MARKER]: number;
  readonly type: string;
  readonly origin: string;
  readonly message: string;
  /** Nanoseconds since the epoch as a decimal string (JSON numbers lose precision past 2^53). */
  readonly timestampNs: string;
  readonly fields?: ControlMessageFields;
}

/** The human-readable line put into opt_comment. */
export function describeControlMessage(message: ControlMessage): string {
  return `[pcap-cf] ${message.type} from ${message.origin}: ${message.message}`;
}

/**
 * Encodes a message as one little-endian NRB block.
 * @throws RangeError if the JSON or the comment exceed a pcapng option's 65535 bytes.
 */
export function encodeControlMessage(message: ControlMessage): Buffer {
  const json: ControlMessageJson = {
    [CONTROL_MESSAGE_MARKER]: CONTROL_MESSAGE_VERSION,
    type: message.type,
    origin: message.origin,
    message: message.message,
    timestampNs: message.timestampNs.toString(),
    ...(message.fields === undefined ? {} : { fields: message.fields }),
  };
  return encodeEmptyNameResolution([
    stringOption(CommonOption.COMMENT, describeControlMessage(message)),
    customOption(CommonOption.CUSTOM_STRING, PCAP_CF_PEN, Buffer.from(JSON.stringify(json), 'utf8')),
  ]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseFields(value: unknown): ControlMessageFields | undefined | null {
  if (value === undefined) return undefined;
  if (!isRecord(value)) return null;
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return null;
    fields[key] = v;
  }
  return fields;
}

/**
 * Decodes the JSON payload of our opt_custom option. Returns undefined for anything that is not a valid
 * message of a type this version knows (a newer peer's new type is skipped, not an error).
 */
export function decodeControlMessageJson(text: string): ControlMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || parsed[CONTROL_MESSAGE_MARKER] !== CONTROL_MESSAGE_VERSION) return undefined;
  const { type, origin, message, timestampNs } = parsed;
  if (!isControlMessageType(type) || typeof origin !== 'string' || typeof message !== 'string')
    return undefined;
  if (typeof timestampNs !== 'string' || !/^\d{1,20}$/.test(timestampNs)) return undefined;
  const fields = parseFields(parsed.fields);
  if (fields === null) return undefined;
  return {
    type,
    origin,
    message,
    timestampNs: BigInt(timestampNs),
    ...(fields === undefined ? {} : { fields }),
  };
}

/**
 * Finds our message among the options of a parsed NRB (or any block): the first opt_custom string option
 * with {@link PCAP_CF_PEN} whose JSON is a valid message. Undefined when the block is not ours.
 */
export function decodeControlMessageOptions(options: readonly PcapngOption[]): ControlMessage | undefined {
  for (const { code, value } of options) {
    if (code !== CommonOption.CUSTOM_STRING && code !== CommonOption.CUSTOM_STRING_NO_COPY) continue;
    if (value.length < 4 || value.readUInt32LE(0) !== PCAP_CF_PEN) continue;
    const message = decodeControlMessageJson(value.toString('utf8', 4));
    if (message !== undefined) return message;
  }
  return undefined;
}
