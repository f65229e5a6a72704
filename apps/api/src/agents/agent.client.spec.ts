/**
 * AgentClient against a real HTTP/2 server over mutual TLS (certificates from scripts/gen-certs.sh): the session it
 * opens advertises the API's flow-control window and frame size, so an agent can send 1 MiB ahead in frames of up
 * to 256 KiB instead of HTTP/2's 64 KiB window and 16 KiB frames; and the bytes arrive intact.
 */
import { readFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';

import { ApiTestCerts } from '../../../../test/support/api-harness';
import { ApiConfig } from '../config/api-config';
import { readTlsMaterial } from '../config/tls-material';
import { AGENT_MAX_FRAME_BYTES, AGENT_WINDOW_BYTES, AgentClient } from './agent.client';

describe('AgentClient: HTTP/2 flow control towards agents', () => {
  let certs: ApiTestCerts;
  let server: Http2SecureServer;
  let port: number;
  const sessions: ServerHttp2Session[] = [];
  /** What the agent may send on the session when the request arrives (before any body). */
  const sessionWindows: (number | undefined)[] = [];
  const payload = Buffer.alloc(3 * 1024 * 1024, 7);

  beforeAll(async () => {
    certs = ApiTestCerts.create();
    server = createSecureServer({
      key: readFileSync(certs.file('agent.key')),
      cert: readFileSync(certs.file('agent.crt')),
      ca: readFileSync(certs.file('ca.crt')),
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on('session', (session) => sessions.push(session));
    server.on('stream', (stream) => {
      sessionWindows.push(stream.session?.state.remoteWindowSize);
      stream.respond({ ':status': 200, 'x-capture-id': 'c1' });
      stream.end(payload);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    certs.destroy();
  });

  it('advertises a 1 MiB window (stream and session) and 256 KiB frames; the body arrives whole', async () => {
    const config = ApiConfig.fromObject({
      listen: { host: '127.0.0.1', port: 0 },
      uaa: { url: 'http://127.0.0.1:1' },
      cloud_controller: { url: 'http://127.0.0.1:1' },
      agents: {
        endpoints: { cell: `127.0.0.1:${port}` },
        mtls: {
          certificate: certs.file('api-client.crt'),
          private_key: certs.file('api-client.key'),
          ca: certs.file('ca.crt'),
          server_name: 'localhost',
        },
      },
    });
    const client = new AgentClient(config, readTlsMaterial(config));
    const capture = await client.start('cell', { device: 'eth0' } as never, 'req-1');
    const chunks: Buffer[] = [];
    for await (const chunk of capture.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);

    const session = sessions.at(-1)!;
    expect(session.remoteSettings.initialWindowSize).toBe(AGENT_WINDOW_BYTES);
    expect(session.remoteSettings.maxFrameSize).toBe(AGENT_MAX_FRAME_BYTES);
    // The session's window too, not HTTP/2's 65 535: raised by a WINDOW_UPDATE right after connecting.
    expect(sessionWindows.at(-1)).toBe(AGENT_WINDOW_BYTES);
    capture.close();
  }, 30000);
});
