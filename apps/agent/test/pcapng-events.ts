/** Reads a captured pcapng stream back with `@pcap/capture`'s reader: control messages and the final statistics. */
import { packetsOf, readPcapng, type ControlMessage, type PcapngStatisticsEvent } from '@pcap/capture';

export interface StreamSummary {
  readonly messages: ControlMessage[];
  readonly statistics: PcapngStatisticsEvent[];
  /** Block type of the last block in the stream. */
  readonly lastBlockType: number;
}

export async function summarize(data: Buffer): Promise<StreamSummary> {
  const messages: ControlMessage[] = [];
  const statistics: PcapngStatisticsEvent[] = [];
  for await (const event of readPcapng([data])) {
    if (event.type === 'message') messages.push(event.message);
    else if (event.type === 'statistics') statistics.push(event);
  }
  const lastBlockType = data.readUInt32LE(data.length - data.readUInt32LE(data.length - 4));
  return { messages, statistics, lastBlockType };
}

/** UDP payload offset in captured Ethernet frames (no IP options); test traffic puts a sequence number there. */
const UDP_PAYLOAD = 14 + 20 + 8;

/** Sequence numbers of the test traffic's UDP packets in a pcapng stream, in stream order. */
export async function udpSequences(data: Buffer): Promise<number[]> {
  const seqs: number[] = [];
  for await (const event of readPcapng([data])) {
    if (event.type !== 'packets') continue;
    for (const p of packetsOf(event.data)) seqs.push(p.data.readUInt32BE(UDP_PAYLOAD));
  }
  return seqs;
}
