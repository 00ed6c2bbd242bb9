// An HTTP proxy that demands basic auth and forwards what passes to a real server: the local Schema Registry runs
// without auth, so this puts the real registry behind an auth check (401 without the right credentials), as a
// registry with auth on answers. It counts what it let through and what it refused.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BasicAuthProxy {
  readonly port: number;
  /** Requests forwarded (right credentials) and refused with 401 (none, or wrong ones). */
  readonly passed: number;
  readonly refused: number;
  close(): Promise<void>;
}

export async function startBasicAuthProxy(target: string, credentials: { username: string; password: string }): Promise<BasicAuthProxy> {
  const upstream = new URL(target);
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  let passed = 0;
  let refused = 0;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      refused++;
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    passed++;
    const { authorization: _, host: __, ...headers } = req.headers;
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => { res.destroy(); });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get passed() { return passed; },
    get refused() { return refused; },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
