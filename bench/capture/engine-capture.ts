/**
 * One capture by our engine for bench/capture/run.ts, in its own process so its CPU time is its own:
 * opens the device inside the namespace, writes every batch to OUT (the batches are pcapng EPBs already) until
 * SIGINT, then prints {delivered, dropped, cpuUs, maxLoopDelayMs} as JSON on stdout. MODE `live` captures in this
 * process (LiveCapture); `isolated` in a worker process (IsolatedCapture, as the agent does), whose CPU time is
 * added once it has exited.
 * GC_PACING_BYTES: the consumer tells a GcPacer of every allocated batch, as the agent's sessions do (0 = off).
 * BATCH_POOL: the engine's reusable batch buffers (`batchPool`, 0 = off); the consumer releases each batch once
 * written, so pooled batches allocate nothing and are not counted by the pacer.
 * CONSUMER `callback` takes the batches through the `onBatch` option, `stream` (default) as 'data' events.
 * LOOP_MONITOR `1` (default) samples the event-loop delay every 10 ms (a timer that wakes the process 100 times a
 * second, whose CPU is counted too); `0` leaves it out and prints maxLoopDelayMs null.
 * Usage: engine-capture.ts NETNS_PATH DEVICE FILTER OUT IMMEDIATE(0|1) BUFFER_BYTES [MODE] [GC_PACING_BYTES] [BATCH_POOL]
 *        [CONSUMER] [LOOP_MONITOR]
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';

import { GcPacer, IsolatedCapture, LiveCapture, type PacketBatch, type PacketSource } from '@pcap/capture';

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
const ticksPerSecond = 100; // Linux USER_HZ

/** CPU of reaped children (the worker, once it has exited), in µs. */
function childrenCpuUs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) / ticksPerSecond) * 1e6;
}

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
  const cpuStart = process.cpuUsage();
  const childrenStart = childrenCpuUs();
  loop?.enable();
  process.stdout.write('ready\n');

  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  const stats = await capture.stop();
  loop?.disable();
  const own = process.cpuUsage(cpuStart);
  if (capture instanceof IsolatedCapture) {
    // the worker's CPU time reaches us when it has exited and been reaped
    for (let i = 0; i < 100 && existsSync(`/proc/${capture.pid}`); i++) await delay(10);
    await delay(50);
  }
  closeSync(fd);
  process.stdout.write(
    JSON.stringify({
      delivered: stats.delivered,
      dropped: stats.dropped,
      batches: stats.batches,
      cpuUs: own.user + own.system + (childrenCpuUs() - childrenStart),
      maxLoopDelayMs: loop ? loop.max / 1e6 : null,
    }) + '\n',
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
