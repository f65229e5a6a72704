/**
 * One capture by our engine for bench/capture/run.ts, in its own process so its CPU time is its own:
 * opens the device inside the namespace, writes every batch to OUT (the batches are pcapng EPBs already) until
 * SIGINT, then prints {delivered, dropped, cpuUs, maxLoopDelayMs} as JSON on stdout.
 * Usage: engine-capture.ts NETNS_PATH DEVICE FILTER OUT IMMEDIATE(0|1) BUFFER_BYTES
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { LiveCapture, type PacketBatch } from '@pcap/capture';

const [netns, device, filter, out, immediate, bufferSize] = process.argv.slice(2);
const fd = openSync(out ?? '/dev/null', 'w');
const loop = monitorEventLoopDelay({ resolution: 10 });
const capture = LiveCapture.open({
  device: device ?? 'eth0',
  netns,
  filter,
  immediate: immediate === '1',
  bufferSize: Number(bufferSize ?? 0),
});
capture.on('data', (batch: PacketBatch) => {
  writeSync(fd, batch.data);
});
const cpuStart = process.cpuUsage();
loop.enable();
process.stdout.write('ready\n');

process.once('SIGINT', () => {
  void capture.stop().then((stats) => {
    loop.disable();
    const cpu = process.cpuUsage(cpuStart);
    closeSync(fd);
    process.stdout.write(
      JSON.stringify({
        delivered: stats.delivered,
        dropped: stats.dropped,
        batches: stats.batches,
        cpuUs: cpu.user + cpu.system,
        maxLoopDelayMs: loop.max / 1e6,
      }) + '\n',
    );
    process.exit(0);
  });
});
