import { udpFrame } from '../../test/synthetic-traffic.fixture';
import { parseOptions } from './pcapng-options.codec';
import {
  encodeCustomBlock,
  encodeEmptyNameResolution,
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeInterfaceStatistics,
  encodeSectionHeader,
} from './pcapng-block.encoder';

function expectFramed(block: Buffer, type: number): void {
  expect(block.readUInt32LE(0)).toBe(type);
  expect(block.readUInt32LE(4)).toBe(block.length);
  expect(block.readUInt32LE(block.length - 4)).toBe(block.length);
  expect(block.length % 4).toBe(0);
}

describe('pcapng block encoder', () => {
  it('encodes a little-endian SHB 1.0 with unknown section length and its options', () => {
    const shb = encodeSectionHeader({
      userAppl: 'pcap-cf',
      hardware: 'x86_64',
      os: 'Linux',
      comments: ['c1'],
    });
    expectFramed(shb, 0x0a0d0d0a);
    expect(shb.readUInt32LE(8)).toBe(0x1a2b3c4d);
    expect(shb.readUInt16LE(12)).toBe(1);
    expect(shb.readUInt16LE(14)).toBe(0);
    expect(shb.readBigInt64LE(16)).toBe(-1n);
    const options = parseOptions(shb, 24, shb.length - 4);
    expect(options.map((o) => [o.code, o.value.toString()])).toEqual([
      [1, 'c1'],
      [2, 'x86_64'],
      [3, 'Linux'],
      [4, 'pcap-cf'],
    ]);
    // the last 4 bytes before the trailer are opt_endofopt
    expect(shb.readUInt32LE(shb.length - 8)).toBe(0);
  });

  it('encodes an SHB without options as the bare 28 bytes', () => {
    expect(encodeSectionHeader().length).toBe(28);
  });

  it('encodes an IDB with if_tsresol 9 by default, name, description and filter', () => {
    const idb = encodeInterfaceDescription({
      linkType: 1,
      snaplen: 262144,
      name: 'eth0',
      description: 'org/space/app #0',
      filter: 'udp port 53',
    });
    expectFramed(idb, 1);
    expect(idb.readUInt16LE(8)).toBe(1);
    expect(idb.readUInt32LE(12)).toBe(262144);
    const options = parseOptions(idb, 16, idb.length - 4);
    expect(options.find((o) => o.code === 9)?.value).toEqual(Buffer.from([9]));
    expect(options.find((o) => o.code === 2)?.value.toString()).toBe('eth0');
    expect(options.find((o) => o.code === 3)?.value.toString()).toBe('org/space/app #0');
    expect(options.find((o) => o.code === 11)?.value).toEqual(Buffer.from('\0udp port 53'));
  });

  it('rejects invalid link types, snaplens and resolutions', () => {
    expect(() => encodeInterfaceDescription({ linkType: 70000, snaplen: 0 })).toThrow(RangeError);
    expect(() => encodeInterfaceDescription({ linkType: 1, snaplen: -1 })).toThrow(RangeError);
    expect(() => encodeInterfaceDescription({ linkType: 1, snaplen: 0, tsresol: 300 })).toThrow(RangeError);
  });

  it('encodes an EPB with the timestamp split high/low, padded data and zeroed padding', () => {
    const frame = udpFrame({ payload: Buffer.from('abc') }); // 45 bytes: 3 bytes of padding
    const ts = 1_700_000_000_123_456_789n;
    const epb = encodeEnhancedPacket(3, { timestampNs: ts, originalLength: frame.length, data: frame });
    expectFramed(epb, 6);
    expect(epb.length).toBe(32 + 48);
    expect(epb.readUInt32LE(8)).toBe(3);
    expect((BigInt(epb.readUInt32LE(12)) << 32n) | BigInt(epb.readUInt32LE(16))).toBe(ts);
    expect(epb.readUInt32LE(20)).toBe(frame.length);
    expect(epb.subarray(28, 28 + frame.length).equals(frame)).toBe(true);
    expect([...epb.subarray(28 + frame.length, 28 + 48)]).toEqual([0, 0, 0]);
  });

  it('converts EPB timestamps to the interface resolution and truncates to snaplen', () => {
    const frame = udpFrame();
    const epb = encodeEnhancedPacket(
      0,
      { timestampNs: 1_500_000_123_999n, originalLength: frame.length, data: frame },
      6,
      20,
    );
    expect((BigInt(epb.readUInt32LE(12)) << 32n) | BigInt(epb.readUInt32LE(16))).toBe(1_500_000_123n);
    expect(epb.readUInt32LE(20)).toBe(20);
    expect(epb.readUInt32LE(24)).toBe(frame.length);
  });

  it('adds EPB comments after the padded data', () => {
    const epb = encodeEnhancedPacket(
      0,
      { timestampNs: 1n, originalLength: 1, data: Buffer.from([7]) },
      9,
      0,
      ['hi'],
    );
    const options = parseOptions(epb, 32, epb.length - 4);
    expect(options.map((o) => o.value.toString())).toEqual(['hi']);
  });

  it('rejects inconsistent packet lengths', () => {
    const data = Buffer.alloc(10);
    expect(() => encodeEnhancedPacket(0, { timestampNs: 0n, originalLength: 9, data })).toThrow(
      /originalLength/,
    );
    expect(() =>
      encodeEnhancedPacket(0, { timestampNs: 0n, originalLength: 10, capturedLength: 9, data }),
    ).toThrow(/capturedLength/);
  });

  it('encodes an ISB with start/end times and counters', () => {
    const isb = encodeInterfaceStatistics(2, {
      timestampNs: 2_000_000_000_000_000_005n,
      startTimeNs: 1_000_000_000_000_000_001n,
      endTimeNs: 2_000_000_000_000_000_005n,
      ifRecv: 100,
      ifDrop: 3n,
      osDrop: 7,
      comments: ['final'],
    });
    expectFramed(isb, 5);
    expect(isb.readUInt32LE(8)).toBe(2);
    const options = parseOptions(isb, 20, isb.length - 4);
    expect(options.map((o) => o.code)).toEqual([1, 2, 3, 4, 5, 7]);
    expect(options.find((o) => o.code === 7)?.value.readBigUInt64LE(0)).toBe(7n);
    const start = options.find((o) => o.code === 2)?.value;
    expect(start && (BigInt(start.readUInt32LE(0)) << 32n) | BigInt(start.readUInt32LE(4))).toBe(
      1_000_000_000_000_000_001n,
    );
  });

  it('encodes an NRB holding only nrb_record_end plus options, and a custom block', () => {
    const nrb = encodeEmptyNameResolution([{ code: 1, value: Buffer.from('x') }]);
    expectFramed(nrb, 4);
    expect(nrb.readUInt32LE(8)).toBe(0);
    expect(parseOptions(nrb, 12, nrb.length - 4)[0]?.value.toString()).toBe('x');
    const cb = encodeCustomBlock(32473, Buffer.from('abcde'));
    expectFramed(cb, 0xbad);
    expect(cb.readUInt32LE(8)).toBe(32473);
    expect(cb.length).toBe(16 + 8);
  });
});
