import { request as httpsRequest } from 'node:https';

import { AgentUnderTest, TestCerts, json, request } from './agent-harness';

describe('agent mTLS (HTTP/2)', () => {
  let certs: TestCerts;
  let agent: AgentUnderTest;

  beforeAll(async () => {
    certs = TestCerts.create();
    agent = await AgentUnderTest.start(certs);
  });
  afterAll(async () => {
    await agent?.close();
    certs?.destroy();
  });

  async function statusWith(client: Parameters<AgentUnderTest['connect']>[0]): Promise<number> {
    const session = await agent.connect(client);
    try {
      return (await request(session, 'GET', '/status')).status;
    } finally {
      session.close();
    }
  }

  it('serves /status to the API client certificate', async () => {
    const session = await agent.connect();
    try {
      const response = await request(session, 'GET', '/status');
      expect(response.status).toBe(200);
      expect(json(response)).toMatchObject({
        healthy: true,
        state: 'healthy',
        compatibilityLevel: 1,
        version: expect.any(String) as string,
        activeCaptures: 0,
      });
    } finally {
      session.close();
    }
  });

  it('serves HTTP/1.1 clients over the same mTLS port', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: agent.port,
          path: '/status',
          servername: 'localhost',
          ca: certs.read('ca.crt'),
          ...certs.client('api-client'),
          agent: false,
        },
        (res) => {
          let text = `${res.statusCode} HTTP/${res.httpVersion} `;
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toMatch(/^200 HTTP\/1\.1 \{"healthy":true/);
  });

  it('rejects a connection without a client certificate', async () => {
    await expect(statusWith(null)).rejects.toThrow(/alert certificate required/);
  });

  it('rejects a certificate from another CA', async () => {
    await expect(statusWith(certs.client('other-client'))).rejects.toThrow(
      /alert unknown ca|closed without a response/,
    );
  });

  it('rejects an expired certificate', async () => {
    await expect(statusWith(certs.client('expired-client'))).rejects.toThrow(
      /alert certificate expired|closed without a response/,
    );
  });
});

describe('agent client CN allow-list', () => {
  let certs: TestCerts;
  let agent: AgentUnderTest;

  beforeAll(async () => {
    certs = TestCerts.create();
    agent = await AgentUnderTest.start(certs, {
      tls: { client_common_names: ['pcap-api.service.cf.internal'] },
    });
  });
  afterAll(async () => {
    await agent?.close();
    certs?.destroy();
  });

  it('admits the allowed CN and refuses another certificate of the same CA', async () => {
    const ok = await agent.connect(certs.client('api-client'));
    const other = await agent.connect(certs.client('stranger-client'));
    try {
      expect((await request(ok, 'GET', '/status')).status).toBe(200);
      const refused = await request(other, 'GET', '/status');
      expect(refused.status).toBe(403);
      expect(json(refused).message).toBe("client certificate CN 'stranger.example' is not allowed");
    } finally {
      ok.close();
      other.close();
    }
  });
});
