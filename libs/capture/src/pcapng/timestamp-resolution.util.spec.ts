import { assertTsresol, nsToUnits, ticksPerSecond, unitsToNs } from './timestamp-resolution.util';

describe('if_tsresol conversions', () => {
  const ns = 1_700_000_000_123_456_789n;

  it('treats 9 as nanoseconds and 6 as microseconds (decimal, MSB clear)', () => {
    expect(ticksPerSecond(9)).toBe(1_000_000_000n);
    expect(nsToUnits(ns, 9)).toBe(ns);
    expect(nsToUnits(ns, 6)).toBe(1_700_000_000_123_456n);
    expect(unitsToNs(1_700_000_000_123_456n, 6)).toBe(1_700_000_000_123_456_000n);
    expect(nsToUnits(ns, 0)).toBe(1_700_000_000n);
  });

  it('handles binary resolutions (MSB set: 2^-n seconds)', () => {
    const r = 0x80 | 20;
    expect(ticksPerSecond(r)).toBe(1n << 20n);
    expect(unitsToNs(3n << 20n, r)).toBe(3_000_000_000n);
    expect(unitsToNs(1n, r)).toBe(953n); // 1/2^20 s = 953.67 ns, truncated
    expect(nsToUnits(1_500_000_000n, r)).toBe(3n << 19n);
  });

  it('keeps finer-than-ns resolutions exact in ns (truncating)', () => {
    expect(unitsToNs(1_234_567_891n, 12)).toBe(1_234_567n);
    expect(nsToUnits(5n, 12)).toBe(5000n);
  });

  it('rejects bytes it cannot represent', () => {
    expect(() => assertTsresol(256)).toThrow(RangeError);
    expect(() => assertTsresol(19)).toThrow(RangeError);
    expect(() => assertTsresol(0x80 | 64)).toThrow(RangeError);
    expect(() => assertTsresol(0x80 | 63)).not.toThrow();
  });
});
