/**
 * The engine-only demo (`npm run demo:engine`): a local capture through the capture engine alone, on embedded
 * defaults (the quickstart's `npm start` runs the whole path: scripts/demo-full.ts).
 * Creates two test hosts in network namespaces ("client" and "app"), sends bounded UDP and TCP traffic from
 * one to the other, captures it *inside* the app's namespace from this (root) namespace, writes a pcapng file
 * (section header, an interface description naming the target, packets, a control message, statistics) and
 * lets the real Wireshark tools summarise it. Cleans up everything it created.
 *
 * Usage (as root): npm run demo:engine [-- --out FILE] [--udp N] [--tcp-bytes N]
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { LiveCapture, PcapngWriter, libpcapVersion, nowNs, type PacketBatch } from '@pcap/capture';
import { TestNetwork, sendTcp, sendUdp, startTcpSink } from '../test/support/test-network';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the demo creates network namespaces and captures packets: run it as root');
  }
  const out = resolve(arg('--out', 'demo.pcapng'));
  const udpCount = Number(arg('--udp', '200'));
  const tcpBytes = Number(arg('--tcp-bytes', '100000'));

  const net = TestNetwork.create();
  const cleanup = (): void => net.destroy();
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    console.log(`demo: ${libpcapVersion()}`);
    console.log(
      `demo: hosts ${net.a.ip} (client, netns ${net.a.ns}) -> ${net.b.ip} (app, netns ${net.b.ns})`,
    );
    await startTcpSink(net, net.b, 8080);

    const capture = LiveCapture.open({ device: net.b.device, netns: net.b.netnsPath, filter: 'udp or tcp' });
    const writer = new PcapngWriter({ userAppl: 'pcap-cf demo', os: process.platform });
    const file = createWriteStream(out);
    file.write(writer.writeSectionHeader());
    const { interfaceId, block } = writer.writeInterface({
      linkType: capture.linkType,
      snaplen: capture.snaplen,
      name: net.b.device,
      description: `demo app instance 0 (netns ${net.b.ns}, ${net.b.ip})`,
      filter: 'udp or tcp',
    });
    file.write(block);
    capture.on('data', (batch: PacketBatch) => {
      if (!file.write(writer.writeBatch(interfaceId, batch))) {
        capture.pause();
        file.once('drain', () => capture.resume());
      }
    });
    const ended = once(capture, 'end');

    console.log(
      `demo: capturing inside ${net.b.netnsPath} on ${net.b.device}; sending ${udpCount} UDP datagrams and ${tcpBytes} bytes over TCP`,
    );
    await sendUdp(net, net.a, net.b, { port: 7000, count: udpCount, size: 120, gapUs: 1000 });
    await sendTcp(net, net.a, net.b, 8080, tcpBytes);
    await delay(200);

    const stats = await capture.stop();
    await ended;
    const endNs = nowNs();
    file.write(
      writer.writeMessage({
        type: 'CAPTURE_STOPPED',
        origin: 'demo',
        message: `capture stopped after the demo traffic: ${stats.delivered} packets`,
        timestampNs: endNs,
      }),
    );
    file.write(
      writer.writeStatistics(interfaceId, {
        timestampNs: endNs,
        startTimeNs: capture.startedAtNs,
        endTimeNs: endNs,
        ifRecv: stats.received,
        ifDrop: stats.dropped,
        osDrop: 0,
      }),
    );
    file.end();
    await once(file, 'finish');

    console.log(`demo: captured ${stats.delivered} packets, kernel dropped ${stats.dropped}; wrote ${out}\n`);
    console.log(execFileSync('capinfos', [out], { encoding: 'utf8' }));
    const lines = execFileSync('tshark', ['-r', out, '-c', '8'], { encoding: 'utf8' });
    console.log(`first packets (tshark -r ${out} -c 8):\n${lines}`);
  } finally {
    cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
