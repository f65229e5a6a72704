import {
  customOption,
  findTimestamp,
  findUint64,
  optionsLength,
  pad4,
  parseOptions,
  stringOption,
  timestampOption,
  uint64Option,
  writeOptions,
} from './pcapng-options.codec';

describe('pcapng options', () => {
  it('pads every value to 32 bits and ends with opt_endofopt', () => {
    for (let len = 0; len <= 9; len++) {
      const value = Buffer.alloc(len, 0xaa);
      const options = [{ code: 1, value }];
      const size = optionsLength(options);
      expect(size).toBe(4 + pad4(len) + 4);
      expect(size % 4).toBe(0);
      const buf = Buffer.alloc(size, 0xff);
      expect(writeOptions(buf, 0, options)).toBe(size);
      expect(buf.readUInt16LE(0)).toBe(1);
      expect(buf.readUInt16LE(2)).toBe(len);
      expect(buf.subarray(4, 4 + len).equals(value)).toBe(true);
      // padding bytes are zero, then opt_endofopt (code 0, length 0)
      expect([...buf.subarray(4 + len, 4 + pad4(len))].every((b) => b === 0)).toBe(true);
      expect(buf.readUInt32LE(size - 4)).toBe(0);
    }
  });

  it('writes nothing at all for an empty option list', () => {
    expect(optionsLength([])).toBe(0);
    expect(writeOptions(Buffer.alloc(0), 0, [])).toBe(0);
  });

  it('round-trips strings, u64 counters, timestamps and custom options', () => {
    const options = [
      stringOption(1, 'héllo'),
      uint64Option(4, 2n ** 40n + 5n),
      timestampOption(2, 0x0123456789abcdefn),
      customOption(2988, 32473, Buffer.from('{"a":1}')),
    ];
    const buf = Buffer.alloc(optionsLength(options));
    writeOptions(buf, 0, options);
    const parsed = parseOptions(buf, 0, buf.length);
    expect(parsed.map((o) => o.code)).toEqual([1, 4, 2, 2988]);
    expect(parsed[0]?.value.toString('utf8')).toBe('héllo');
    expect(findUint64(parsed, 4)).toBe(2n ** 40n + 5n);
    expect(findTimestamp(parsed, 2)).toBe(0x0123456789abcdefn);
    expect(parsed[3]?.value.readUInt32LE(0)).toBe(32473);
    expect(parsed[3]?.value.toString('utf8', 4)).toBe('{"a":1}');
  });

  it('lays timestamps out high word first, each word little-endian (the EPB layout)', () => {
    const { value } = timestampOption(2, 0x0000000100000002n);
    expect([...value]).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
  });

  it('rejects values longer than 65535 bytes and negative counters', () => {
    const big = [{ code: 1, value: Buffer.alloc(65536) }];
    expect(() => writeOptions(Buffer.alloc(optionsLength(big)), 0, big)).toThrow(RangeError);
    expect(() => uint64Option(4, -1)).toThrow(RangeError);
  });

  it('rejects an option running past its block and tolerates a missing opt_endofopt', () => {
    const buf = Buffer.from([1, 0, 8, 0, 0x61, 0x62, 0x63, 0x64]);
    expect(() => parseOptions(buf, 0, buf.length)).toThrow(/runs past the end/);
    const noEnd = Buffer.from([1, 0, 2, 0, 0x61, 0x62, 0, 0]);
    expect(parseOptions(noEnd, 0, noEnd.length).map((o) => o.value.toString())).toEqual(['ab']);
  });
});
