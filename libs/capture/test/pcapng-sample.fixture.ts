/**
 * A small pcapng stream touching every block kind the reader knows (and some it must skip), and a
 * chunking-independent view of reader events, for the parser and reader specs.
 */
import type { ControlMessage, PcapngEvent } from '../src/index';
import { PcapngWriter, packetsOfRun } from '../src/index';
import { encodeCustomBlock, encodeEmptyNameResolution } from '../src/pcapng/pcapng-block.encoder';
import { batchOf, udpFrame, udpPackets } from './synthetic-traffic.fixture';

export const T0 = 1_700_000_000_000_000_000n;
export const sampleMessage: ControlMessage = {
  type: 'CONGESTED',
  origin: 'agent cell-1',
  message: '17 packets discarded',
  timestampNs: T0 + 5n,
  fields: { discardedPackets: 17 },
};

function simplePacketBlock(data: Buffer, originalLength: number): Buffer {
  const len = 16 + ((data.length + 3) & ~3);
  const block = Buffer.alloc(len);
  block.writeUInt32LE(3, 0);
  block.writeUInt32LE(len, 4);
  block.writeUInt32LE(originalLength, 8);
  data.copy(block, 12);
  block.writeUInt32LE(len, len - 4);
  return block;
}

/** A two-section stream touching every block kind the parser knows, plus ones it must skip. */
export function sampleStream(): Buffer {
  const w = new PcapngWriter({ userAppl: 'spec', os: 'Linux', comments: ['first section'] });
  const parts: Buffer[] = [w.writeSectionHeader()];
  parts.push(w.writeMessage(sampleMessage));
  parts.push(
    w.writeInterface({ linkType: 1, snaplen: 65535, name: 'eth0', description: 'app/0', filter: 'udp' })
      .block,
  );
  parts.push(w.writeInterface({ linkType: 1, snaplen: 0, name: 'lo', tsresol: 6, comments: ['µs'] }).block);
  parts.push(w.writeInterface({ linkType: 101, snaplen: 0, tsresol: 0x80 | 30 }).block);
  parts.push(w.writeBatch(0, batchOf(udpPackets(3, { startNs: T0 + 1000n }))));
  parts.push(
    w.writePacket(1, { timestampNs: T0 + 2_000_123n, originalLength: 100, data: udpFrame() }, ['note']),
  );
  parts.push(encodeCustomBlock(32473, Buffer.from('skip me')));
  parts.push(
    w.writePacket(2, { timestampNs: T0 + 3_000_000n, originalLength: 48, data: udpFrame().subarray(14) }),
  );
  parts.push(simplePacketBlock(udpFrame(), udpFrame().length));
  parts.push(w.writeBatch(0, batchOf(udpPackets(2, { startNs: T0 + 4_000_000n }))));
  parts.push(encodeEmptyNameResolution([{ code: 1, value: Buffer.from('not ours') }]));
  parts.push(
    w.writeStatistics(0, {
      timestampNs: T0 + 9n,
      startTimeNs: T0,
      endTimeNs: T0 + 9n,
      ifRecv: 10,
      ifDrop: 1,
      osDrop: 2,
    }),
  );
  parts.push(w.writeStatistics(1, { timestampNs: T0 + 10_000n, ifRecv: 1 }));
  parts.push(w.writeSectionHeader());
  parts.push(w.writeInterface({ linkType: 1, snaplen: 0, name: 'second' }).block);
  parts.push(w.writeBatch(0, batchOf(udpPackets(1, { startNs: T0 + 7n }))));
  return Buffer.concat(parts);
}

/** Events in a chunking-independent form: packets one per entry, buffers as hex. */
export function normalize(events: readonly PcapngEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const e of events) {
    switch (e.type) {
      case 'packets':
        for (const p of packetsOfRun(e)) out.push({ type: 'packet', ...p, data: p.data.toString('hex') });
        break;
      case 'packet':
        out.push({
          type: 'packet',
          interfaceId: e.interfaceId,
          timestampNs: e.timestampNs,
          capturedLength: e.capturedLength,
          originalLength: e.originalLength,
          data: e.data.toString('hex'),
        });
        break;
      case 'interface': {
        const { block, options, ...rest } = e;
        out.push({ ...rest, block: block.toString('hex'), options: options.length });
        break;
      }
      case 'simplePacket':
        out.push({ ...e, block: e.block.toString('hex'), data: e.data.toString('hex') });
        break;
      case 'section':
      case 'statistics':
      case 'message':
        out.push({ ...e, block: e.block.toString('hex') });
        break;
    }
  }
  return out;
}
