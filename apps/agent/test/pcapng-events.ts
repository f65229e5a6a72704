/** Reads a captured pcapng stream back with `@pcap/capture`'s reader: control messages and the final statistics. */
import { readPcapng, type ControlMessage, type PcapngStatisticsEvent } from '@pcap/capture';

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
