import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  createServer,
  type Http2Server,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeSectionHeader,
  readPcapng,
} from '@pcap/capture';

import { AgentInput } from './agent-input';

/**
 * A real HTTP/2 server on loopback (cleartext) that answers one request with what `answer` writes; `cut()` ends its
 * TCP connection as an agent that dies does.
 */
async function withStream(
  answer: (stream: ServerHttp2Stream, cut: () => void) => void,
  use: (input: AgentInput, lost: string[], request: ClientHttp2Stream) => Promise<void>,
): Promise<void> {
  const server: Http2Server = createServer();
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined); // the cut
    stream.respond({ ':status': 200 });
    answer(stream, () => sockets.forEach((socket) => socket.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const session: ClientHttp2Session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined); // the cut
  try {
    const lost: string[] = [];
    const request = session.request({ ':path': '/captures' });
    const input = new AgentInput(request, {
      origin: 'api',
      describe: 'instance 0',
      fields: { index: 0 },
      onLost: (why) => lost.push(why),
    });
    await use(input, lost, request);
  } finally {
    session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function collect(input: AgentInput): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return chunks;
}

const PACKETS = 2000; // ~270 KiB: many 16 KiB DATA frames
const stream = Buffer.concat([
  encodeSectionHeader({ userAppl: 'agent' }),
  encodeInterfaceDescription({ linkType: 1, snaplen: 65535, name: 'eth0' }),
  ...Array.from({ length: PACKETS }, (_, i) =>
    encodeEnhancedPacket(0, {
      timestampNs: 1_700_000_000_000_000_000n + BigInt(i),
      data: Buffer.alloc(100, i),
      originalLength: 100,
    }),
  ),
]);

describe('AgentInput', () => {
  it('passes on whole blocks only, whatever the writes and frames cut them into', async () => {
    await withStream(
      (s) => {
        for (let off = 0; off < stream.length; off += 7) s.write(stream.subarray(off, off + 7));
        s.end();
      },
      async (input, lost) => {
        const chunks = await collect(input);
        expect(Buffer.concat(chunks).equals(stream)).toBe(true);
        expect(lost).toEqual([]);
        for (const chunk of chunks) {
          let off = 0;
          while (off < chunk.length) off += chunk.readUInt32LE(off + 4);
          expect(off).toBe(chunk.length);
        }
      },
    );
  });

  it('passes on the DATA frames (≤ 16 KiB) that arrive in one event-loop turn as one chunk', async () => {
    let frames = 0;
    await withStream(
      (s) => s.end(stream), // one write, as the agent writes a batch: HTTP/2 cuts it into 16 KiB frames
      async (input, _lost, request) => {
        request.on('data', () => frames++);
        const chunks = await collect(input);
        expect(Buffer.concat(chunks).equals(stream)).toBe(true);
        expect(frames).toBeGreaterThanOrEqual(Math.floor(stream.length / 16384));
        expect(chunks.length).toBeLessThanOrEqual(frames / 2);
      },
    );
  });

  it('drops a torn block when the agent goes away and ends with INSTANCE_UNAVAILABLE', async () => {
    await withStream(
      (s, cut) => {
        s.write(stream.subarray(0, stream.length - 50)); // the last EPB is incomplete
        setTimeout(cut, 50);
      },
      async (input, lost) => {
        const events = [];
        for await (const e of readPcapng(await collect(input))) events.push(e);
        const packets = events.filter((e) => e.type === 'packets').reduce((n, e) => n + e.count, 0);
        expect(packets).toBe(PACKETS - 1);
        const messages = events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
        expect(messages).toEqual([
          expect.objectContaining({ type: 'INSTANCE_UNAVAILABLE', origin: 'api', fields: { index: 0 } }),
        ]);
        expect(messages[0]?.message).toMatch(
          /^instance 0: capture lost: the connection to the agent was lost/,
        );
        expect(lost).toHaveLength(1);
      },
    );
  });
});
