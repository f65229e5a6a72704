/**
 * The gob codec against bytes written by real Go (cli/test/go/fake-cf, `golden` mode; one fresh Go process per
 * scenario so type ids start at 65): our encoder writes the same bytes, our decoder reads Go's bytes back to the
 * values Go encoded.
 */
import { GobDecoder } from '../src/gob/gob.decoder';
import { GobEncoder } from '../src/gob/gob.encoder';
import {
  gobBool,
  gobBytes,
  gobFloat,
  gobInt,
  gobMap,
  gobSlice,
  gobString,
  gobStruct,
  gobUint,
  type GobType,
  type GobValue,
} from '../src/gob/gob-types';
import { PLUGIN_METADATA } from '../src/plugin/cf-plugin.types';
import { FakeCf } from './support/fake-cf';

const REQUEST = gobStruct('Request', { ServiceMethod: gobString, Seq: gobUint });
const RESPONSE = gobStruct('Response', { ServiceMethod: gobString, Seq: gobUint, Error: gobString });
const SPACE_FIELDS = gobStruct('SpaceFields', { Guid: gobString, Name: gobString });
const SPACE = gobStruct('Space', { SpaceFields: SPACE_FIELDS });
const EMPTY = gobStruct('', {});
const NESTED = gobStruct('Nested', { A: gobInt, B: gobString });
const STRINGS = gobSlice(gobString, '[]string');
const KITCHEN = gobStruct('Kitchen', {
  I: gobInt,
  Neg: gobInt,
  Big: gobInt,
  Min: gobInt,
  U: gobUint,
  F: gobFloat,
  NegF: gobFloat,
  B: gobBool,
  S: gobString,
  Bs: gobBytes,
  L: STRINGS,
  M: gobMap(gobString, gobInt, 'map[string]int'),
  N: NESTED,
  Empty: NESTED,
  P: NESTED,
  Nil: NESTED,
  Ns: gobSlice(NESTED, '[]main.Nested'),
  Skip: gobString,
  Ints: gobSlice(gobInt, '[]int'),
});

const METADATA = {
  Name: 'pcap',
  Version: { Major: 0, Minor: 1, Build: 0 },
  LibraryVersion: { Major: 1 },
  MinCliVersion: { Major: 6, Minor: 7 },
  Commands: [
    {
      Name: 'pcap',
      Alias: 'tcpdump',
      HelpText: "Capture the traffic of an app's instances",
      UsageDetails: { Usage: 'cf pcap APP [-o FILE]', Options: new Map([['o', 'output file']]) },
    },
  ],
};

const KITCHEN_VALUE = {
  I: 7,
  Neg: -129,
  Big: (1n << 63n) - 1n,
  Min: -(1n << 63n),
  U: (1n << 64n) - 1n,
  F: 1.5,
  NegF: -0.1,
  B: true,
  S: 'héllo',
  Bs: Buffer.from([0, 1, 2, 255]),
  L: ['a', '', 'c'],
  M: new Map<GobValue, GobValue>([['x', 300]]),
  N: { A: -1, B: 'n' },
  Empty: {},
  P: { A: 2 },
  Ns: [{ A: 1 }, {}, { B: 'z' }],
  Ints: [0, 1, -1, 1000000],
};

/** Each scenario: the values Go encodes, in order, with their types. */
const SCENARIOS: Record<string, Array<[GobType, GobValue]>> = {
  'set-metadata': [
    [REQUEST, { ServiceMethod: 'CliRpcCmd.SetPluginMetadata' }],
    [PLUGIN_METADATA, METADATA],
  ],
  'is-logged-in': [
    [REQUEST, { ServiceMethod: 'CliRpcCmd.IsLoggedIn' }],
    [gobString, ''],
  ],
  'two-calls': [
    [REQUEST, { ServiceMethod: 'CliRpcCmd.ApiEndpoint' }],
    [gobString, ''],
    [REQUEST, { ServiceMethod: 'CliRpcCmd.AccessToken', Seq: 1 }],
    [gobString, ''],
  ],
  'reply-bool': [
    [RESPONSE, { ServiceMethod: 'CliRpcCmd.IsLoggedIn' }],
    [gobBool, true],
  ],
  'reply-false': [
    [RESPONSE, { ServiceMethod: 'CliRpcCmd.IsSSLDisabled', Seq: 3 }],
    [gobBool, false],
  ],
  'reply-string': [
    [RESPONSE, { ServiceMethod: 'CliRpcCmd.ApiEndpoint' }],
    [gobString, 'https://api.sys.example.com'],
  ],
  'reply-space': [
    [RESPONSE, { ServiceMethod: 'CliRpcCmd.GetCurrentSpace' }],
    [SPACE, { SpaceFields: { Guid: '2f35885d-guid', Name: 'dev' } }],
  ],
  'reply-error': [
    [RESPONSE, { ServiceMethod: 'CliRpcCmd.AccessToken', Error: 'token expired' }],
    [EMPTY, {}],
  ],
  kitchen: [
    [KITCHEN, KITCHEN_VALUE],
    [gobInt, -5],
    [gobUint, 300],
    [gobFloat, 2.25],
    [gobString, 's'],
    [gobBytes, Buffer.from('raw')],
    [STRINGS, ['p', 'q']],
  ],
};

/** What the decoder gives for a value we encoded: maps as Map, zero fields absent, ints as number or bigint. */
function normalise(v: GobValue | undefined): unknown {
  if (v instanceof Map) {
    const entries = [...(v as ReadonlyMap<GobValue, GobValue>).entries()];
    return new Map(entries.map(([k, x]) => [normalise(k), normalise(x)]));
  }
  if (Buffer.isBuffer(v)) return [...v];
  if (Array.isArray(v)) return (v as GobValue[]).map(normalise);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, GobValue | undefined>)) {
      if (x === undefined || x === '' || x === 0 || x === false) continue;
      if (Array.isArray(x) && x.length === 0) continue;
      out[k] = normalise(x);
    }
    return out;
  }
  return v;
}

describe('gob codec against Go', () => {
  let fake: FakeCf;

  beforeAll(() => {
    fake = FakeCf.build();
  }, 120000);

  afterAll(() => fake?.destroy());

  it.each(Object.keys(SCENARIOS))('%s: our encoder writes exactly the bytes Go writes', (scenario) => {
    const encoder = new GobEncoder();
    const ours = Buffer.concat(SCENARIOS[scenario]!.map(([t, v]) => encoder.encode(t, v)));
    expect(ours.toString('hex')).toBe(fake.golden(scenario).toString('hex'));
  });

  it.each(Object.keys(SCENARIOS))(
    '%s: our decoder reads Go bytes back to the values, in any chunking',
    (scenario) => {
      const golden = fake.golden(scenario);
      for (const chunkSize of [golden.length, 1, 7]) {
        const decoder = new GobDecoder();
        const values: unknown[] = [];
        for (let i = 0; i < golden.length; i += chunkSize) {
          decoder.push(golden.subarray(i, i + chunkSize));
          for (let m = decoder.next(); m !== undefined; m = decoder.next()) values.push(normalise(m.value));
        }
        expect(decoder.buffered).toBe(0);
        expect(values).toEqual(SCENARIOS[scenario]!.map(([, v]) => normalise(v)));
      }
    },
  );

  it('decodes the type names Go sent, and refuses garbage with a GobError', () => {
    const decoder = new GobDecoder();
    decoder.push(fake.golden('reply-space'));
    expect(decoder.next()?.typeName).toBe('Response');
    expect(decoder.next()?.typeName).toBe('Space');
    const bad = new GobDecoder();
    bad.push(Buffer.from([0x03, 0xff, 0x90, 0x00]));
    expect(() => bad.next()).toThrow(/gob: unknown type id 72/);
  });
});
