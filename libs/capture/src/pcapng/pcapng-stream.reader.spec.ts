import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { normalize, sampleStream } from '../../test/pcapng-sample.fixture';
import { CaptureFormatError } from './capture-format.error';
import { PcapngBlockParser, type PcapngEvent } from './pcapng-block.parser';
import { PcapngReader, readPcapng } from './pcapng-stream.reader';

function parseWhole(stream: Buffer): PcapngEvent[] {
  const events: PcapngEvent[] = [];
  const parser = new PcapngBlockParser((e) => events.push(e), { packets: 'each' });
  parser.push(stream);
  parser.end();
  return events;
}

describe('PcapngReader / readPcapng', () => {
  const stream = sampleStream();

  it('works in a pipeline with arbitrary chunks and keeps the event order', async () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 7) chunks.push(stream.subarray(i, i + 7));
    const events: PcapngEvent[] = [];
    await pipeline(
      Readable.from(chunks),
      new PcapngReader(),
      new Writable({
        objectMode: true,
        write(e: PcapngEvent, _enc, cb) {
          events.push(e);
          cb();
        },
      }),
    );
    expect(normalize(events)).toEqual(normalize(parseWhole(stream)));
  });

  it('fails the pipeline on malformed input', async () => {
    await expect(
      pipeline(
        Readable.from([stream.subarray(0, 50)]),
        new PcapngReader(),
        new Writable({ objectMode: true, write: (_e, _n, cb) => cb() }),
      ),
    ).rejects.toThrow(CaptureFormatError);
  });

  it('is usable with for-await over any chunk iterable', async () => {
    const types: string[] = [];
    for await (const e of readPcapng([stream.subarray(0, 100), stream.subarray(100)], { packets: 'each' })) {
      types.push(e.type);
    }
    expect(types.filter((t) => t === 'packet')).toHaveLength(8);
    expect(types[0]).toBe('section');
  });
});
