import { PassThrough } from 'node:stream';

import type { ControlMessage } from '@pcap/capture';

import { CaptureTally, formatMessage, ProgressReporter } from './capture-progress';

const unavailable: ControlMessage = {
  type: 'INSTANCE_UNAVAILABLE',
  origin: 'api',
  message: 'instance 1 is DOWN',
  timestampNs: 1n,
  fields: { instanceIndex: 1 },
};

function tally(): CaptureTally {
  const t = new CaptureTally();
  t.add({
    kind: 'interface',
    id: 0,
    name: 'x/eth0',
    description: 'org=o space=s app=a process=web index=0 cell=c',
  });
  t.add({
    kind: 'interface',
    id: 1,
    name: 'y/eth0',
    description: 'org=o space=s app=a process=web index=2 cell=d',
  });
  t.add({ kind: 'packets', count: 40 });
  t.add({ kind: 'message', message: unavailable });
  t.add({
    kind: 'message',
    message: {
      type: 'CONGESTED',
      origin: 'api',
      message: '5 discarded',
      timestampNs: 2n,
      fields: { discardedPackets: 5 },
    },
  });
  t.add({ kind: 'statistics', interfaceId: 0, ifDrop: 3n, osDrop: 0n });
  t.add({ kind: 'statistics', interfaceId: 0, ifDrop: 4n, osDrop: 2n });
  t.bytes = 5000;
  return t;
}

function terminal(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

describe('progress', () => {
  it('counts packets, bytes, drops (latest ISB per interface; discards from ISBs or CONGESTED) and instance states', () => {
    const line = tally().line();
    expect(line).toMatch(/^\d+s {2}40 packets {2}4\.9 KiB {2}drops 4\/5 {2}instances #0:up #1:down #2:up$/);
  });

  it('prints messages as origin (TYPE): message', () => {
    expect(formatMessage(unavailable)).toBe('api (INSTANCE_UNAVAILABLE): instance 1 is DOWN');
  });

  it('on a terminal: a status line redrawn in place, messages on their own lines', async () => {
    const t = terminal(true);
    const r = new ProgressReporter(t.stream, tally(), false);
    r.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    r.message(unavailable);
    r.stop();
    expect(t.text()).toContain('\r\x1b[K');
    expect(t.text()).toContain('40 packets');
    expect(t.text()).toContain('\r\x1b[Kapi (INSTANCE_UNAVAILABLE): instance 1 is DOWN\n');
  });

  it('not a terminal: messages only; -q: nothing', async () => {
    const pipe = terminal(false);
    const r = new ProgressReporter(pipe.stream, tally(), false);
    r.start();
    await new Promise((resolve) => setTimeout(resolve, 600));
    r.message(unavailable);
    r.stop();
    expect(pipe.text()).toBe('api (INSTANCE_UNAVAILABLE): instance 1 is DOWN\n');
    const quiet = terminal(true);
    const q = new ProgressReporter(quiet.stream, tally(), true);
    q.start();
    q.message(unavailable);
    q.note('hello');
    q.stop();
    expect(quiet.text()).toBe('');
  });
});
