/**
 * An HTTP proxy on 127.0.0.1 in front of the real API that forwards every request unchanged (streaming both ways),
 * except `DELETE /captures/<id>`, which it records and answers itself without forwarding: 202 is an API that
 * accepted a graceful stop and is still draining its agents (so a test can press Ctrl-C a second time while the
 * stream still runs); 404 is an API without that endpoint (Fastify's own 404 body).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export class ForwardingProxy {
  readonly deletes: Array<{ path: string; authorization: string | undefined }> = [];
  private readonly open = new Set<IncomingMessage>();

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
    private readonly deleteStatus: 202 | 404,
  ) {}

  static async start(targetUrl: string, deleteStatus: 202 | 404 = 202): Promise<ForwardingProxy> {
    const server = createServer();
    const proxy = new ForwardingProxy(server, new URL(targetUrl), deleteStatus);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => proxy.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'DELETE' && /^\/captures\/[^/]+$/.test(req.url ?? '')) {
      this.deletes.push({ path: req.url ?? '', authorization: req.headers.authorization });
      req.resume();
      const body =
        this.deleteStatus === 202
          ? { id: req.url?.split('/')[2], status: 'stopping' }
          : { message: `Route DELETE:${req.url} not found`, error: 'Not Found', statusCode: 404 };
      res.writeHead(this.deleteStatus, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    const upstream = request(
      {
        host: this.target.hostname,
        port: this.target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        this.open.add(answer);
        answer.once('close', () => this.open.delete(answer));
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.once('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    for (const a of this.open) a.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
