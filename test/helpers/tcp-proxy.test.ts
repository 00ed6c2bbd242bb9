// The fault suite's slow link: latency(ms) delays every chunk each way and keeps their order.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

/** A local echo server (not one of the stack's): what the proxy forwards to. */
async function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('tcp proxy latency', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => { for (const c of cleanup.splice(0)) await c(); });

  it('delays each chunk by the latency each way and keeps their order', async () => {
    const server = await echoServer();
    const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    cleanup.push(() => proxy.close(), () => new Promise((resolve) => server.close(() => resolve())));
    proxy.latency(150);
    const socket = net.connect(proxy.port, '127.0.0.1');
    cleanup.push(async () => { socket.destroy(); });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = '';
    const expected = Array.from({ length: 20 }, (_, i) => `<${i}>`).join('');
    const started = Date.now();
    const done = new Promise<number>((resolve) => socket.on('data', (d: Buffer) => {
      received += d.toString();
      if (received.length >= expected.length) resolve(Date.now() - started);
    }));
    for (let i = 0; i < 20; i++) { socket.write(`<${i}>`); await new Promise((r) => setTimeout(r, 5)); }
    expect(proxy.inTransit()).toBeGreaterThan(0);
    const ms = await done;
    expect(received).toBe(expected);
    expect(ms).toBeGreaterThanOrEqual(300); // 150 ms there, 150 ms back
  });
});
