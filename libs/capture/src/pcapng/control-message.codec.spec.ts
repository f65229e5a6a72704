import {
  PCAP_CF_PEN,
  decodeControlMessageJson,
  decodeControlMessageOptions,
  describeControlMessage,
  encodeControlMessage,
} from './control-message.codec';
import { CONTROL_MESSAGE_TYPES, type ControlMessage } from './control-message.model';
import { customOption, parseOptions } from './pcapng-options.codec';

function optionsOf(block: Buffer) {
  // NRB: header (8), nrb_record_end (4), options, trailer (4)
  return parseOptions(block, 12, block.length - 4);
}

describe('control message codec', () => {
  it.each(CONTROL_MESSAGE_TYPES)('round-trips %s through an NRB', (type) => {
    const message: ControlMessage = {
      type,
      origin: 'agent cell-1/instance 2',
      message: `something about ${type} — ünïcode`,
      timestampNs: 1_700_000_000_999_999_999n,
      fields: { discardedPackets: 12, discardedBytes: 3456, limit: 'bytes', partial: true },
    };
    const block = encodeControlMessage(message);
    expect(block.readUInt32LE(0)).toBe(4);
    expect(block.readUInt32LE(8)).toBe(0); // no name records
    const options = optionsOf(block);
    expect(options[0]?.code).toBe(1);
    expect(options[0]?.value.toString()).toBe(describeControlMessage(message));
    expect(options[1]?.code).toBe(2988);
    expect(options[1]?.value.readUInt32LE(0)).toBe(PCAP_CF_PEN);
    expect(decodeControlMessageOptions(options)).toEqual(message);
  });

  it('omits fields when there are none', () => {
    const message: ControlMessage = {
      type: 'CAPTURE_STOPPED',
      origin: 'api',
      message: 'done',
      timestampNs: 5n,
    };
    const json = optionsOf(encodeControlMessage(message))[1]?.value.toString('utf8', 4) ?? '';
    expect(JSON.parse(json)).toEqual({
      pcapcf: 1,
      type: 'CAPTURE_STOPPED',
      origin: 'api',
      message: 'done',
      timestampNs: '5',
    });
    expect(decodeControlMessageOptions(optionsOf(encodeControlMessage(message)))).toEqual(message);
  });

  it('ignores other enterprises, unknown types, other versions and bad JSON', () => {
    const good = { pcapcf: 1, type: 'CONGESTED', origin: 'a', message: 'b', timestampNs: '1' };
    expect(decodeControlMessageJson(JSON.stringify(good))?.type).toBe('CONGESTED');
    expect(decodeControlMessageJson(JSON.stringify({ ...good, type: 'NEW_THING' }))).toBeUndefined();
    expect(decodeControlMessageJson(JSON.stringify({ ...good, pcapcf: 2 }))).toBeUndefined();
    expect(decodeControlMessageJson(JSON.stringify({ ...good, timestampNs: 1 }))).toBeUndefined();
    expect(decodeControlMessageJson(JSON.stringify({ ...good, fields: { nested: {} } }))).toBeUndefined();
    expect(decodeControlMessageJson('{not json')).toBeUndefined();
    const foreign = customOption(2988, 12345, Buffer.from(JSON.stringify(good)));
    expect(decodeControlMessageOptions([foreign])).toBeUndefined();
    const ours = customOption(2988, PCAP_CF_PEN, Buffer.from(JSON.stringify(good)));
    expect(decodeControlMessageOptions([foreign, ours])?.origin).toBe('a');
  });

  it('refuses a message too large for one option', () => {
    expect(() =>
      encodeControlMessage({
        type: 'INVALID_REQUEST',
        origin: 'api',
        message: 'x'.repeat(70000),
        timestampNs: 0n,
      }),
    ).toThrow(RangeError);
  });
});
