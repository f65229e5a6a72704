/**
 * One capture by our engine for bench/capture/run.ts, in its own process so its CPU time is its own:
 * opens the device inside the namespace, writes every batch to OUT (the batches are pcapng EPBs already) until
 * SIGINT, then prints {delivered, dropped, batches, reads, cpuUs, maxLoopDelayMs} as JSON on stdout. cpuUs is the CPU time
 * from "ready" to the signal (the stop is not counted, as it is not for tcpdump). MODE `live` captures in this
 * process (LiveCapture); `isolated` in a worker process (IsolatedCapture, as the agent does), whose CPU time
 * (schedstat) is added.
 * GC_PACING_BYTES: the consumer tells a GcPacer of every allocated batch, as the agent's sessions do (0 = off).
 * BATCH_POOL: the engine's reusable batch buffers (`batchPool`, 0 = off); the consumer releases each batch once
 * written, so pooled batches allocate nothing and are not counted by the pacer.
 * CONSUMER `callback` takes the batches through the `onBatch` option, `stream` (default) as 'data' events.
 * LOOP_MONITOR `1` (default) samples the event-loop delay every 10 ms (a timer that wakes the process 100 times a
 * second, whose CPU is counted too); `0` leaves it out and prints maxLoopDelayMs null.
 * Usage: engine-capture.ts NETNS_PATH DEVICE FILTER OUT IMMEDIATE(0|1) BUFFER_BYTES [MODE] [GC_PACING_BYTES] [BATCH_POOL]
 *        [CONSUMER] [LOOP_MONITOR]
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { GcPacer, IsolatedCapture, LiveCapture, type PacketBatch, type PacketSource } from '@pcap/capture';

import { cpuUsOf } from '../support/cpu-time';

const [
  netns,
  device,
  filter,
  out,
  immediate,
  bufferSize,
  mode,
  gcPacingBytes,
  batchPool,
  consumer,
  loopMonitor,
] = process.argv.slice(2);

async function main(): Promise<void> {
  const fd = openSync(out ?? '/dev/null', 'w');
  const loop = loopMonitor === '0' ? undefined : monitorEventLoopDelay({ resolution: 10 });
  const pacer = new GcPacer(Number(gcPacingBytes ?? 0));
  const write = (batch: PacketBatch): void => {
    writeSync(fd, batch.data);
    if (batch.release) batch.release();
    else pacer.account(batch.data.length);
  };
  const options = {
    device: device ?? 'eth0',
    netns,
    filter,
    immediate: immediate === '1',
    bufferSize: Number(bufferSize ?? 0),
    batchPool: Number(batchPool ?? 0),
    onBatch: consumer === 'callback' ? write : undefined,
  };
  const capture: PacketSource =
    mode === 'isolated' ? await IsolatedCapture.open(options) : LiveCapture.open(options);
  if (consumer !== 'callback') capture.on('data', write);
  const worker = capture instanceof IsolatedCapture ? capture.pid : undefined;
  const cpuStart = process.cpuUsage();
  const workerStart = worker === undefined ? 0 : cpuUsOf(worker);
  loop?.enable();
  process.stdout.write('ready\n');

  // CPU up to the signal, as tcpdump's is measured (its stop is not counted either)
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  const own = process.cpuUsage(cpuStart);
  const workerUs = worker === undefined ? 0 : cpuUsOf(worker) - workerStart;
  const stats = await capture.stop();
  loop?.disable();
  closeSync(fd);
  process.stdout.write(
    JSON.stringify({
      delivered: stats.delivered,
      dropped: stats.dropped,
      batches: stats.batches,
      reads: stats.reads,
      cpuUs: own.user + own.system + workerUs,
      maxLoopDelayMs: loop ? loop.max / 1e6 : null,
    }) + '\n',
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
