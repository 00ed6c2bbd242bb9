// A TCP proxy in front of a real server, so a test can cut the network to it (store "down") and restore it.
// The server behind it is the real one; only the path to it is interrupted. And a server that hangs (accepts, never
// answers), for what a client does when nothing comes back.
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /**
   * Holds what clients send: bytes already on their way are kept, in order, and nothing reaches the server (nor comes
   * back) until release(). The connections stay open, so a call in flight just waits, as behind a congested link.
   */
  hold(): void;
  release(): void;
  /**
   * The connections open now go silent for good, as when the peer or the path to it vanishes without a word (no FIN, no
   * RST): what is sent on them is dropped, they stay open. New connections work.
   */
  stall(): void;
  /** Bytes held so far since hold() (0 when not holding): a test waits for > 0 to know a write is in flight. */
  held(): number;
  /** Delays every chunk, each way, by `ms` (0: none), order kept: a slow link, so calls stay in flight longer. */
  latency(ms: number): void;
  /** Chunks on their way now under latency(): > 0 means calls are in flight on the link. */
  inTransit(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let up = true;
  let holding = false;
  let heldBytes = 0;
  let delayMs = 0;
  const queued: Array<{ to: net.Socket; chunk: Buffer }> = [];
  const sockets = new Set<net.Socket>();
  const stalled = new WeakSet<net.Socket>();
  /** Chunks on their way to one socket, each with the time it is due (non-decreasing), written by one timer in order. */
  const delayed = new Map<net.Socket, { due: number; chunk: Buffer }[]>();
  const pump = (to: net.Socket) => {
    const q = delayed.get(to)!;
    while (q.length && q[0]!.due <= Date.now()) if (!to.destroyed) to.write(q.shift()!.chunk); else q.shift();
    if (q.length) setTimeout(() => pump(to), q[0]!.due - Date.now()); else delayed.delete(to);
  };
  const send = (to: net.Socket, chunk: Buffer) => {
    if (delayMs === 0 && !delayed.has(to)) { to.write(chunk); return; }
    const q = delayed.get(to);
    const item = { due: Math.max(Date.now() + delayMs, q?.at(-1)?.due ?? 0), chunk };
    if (q) { q.push(item); return; }
    delayed.set(to, [item]);
    setTimeout(() => pump(to), delayMs);
  };
  const forward = (from: net.Socket, to: net.Socket) => from.on('data', (chunk: Buffer) => {
    if (stalled.has(from)) return;
    if (holding) { queued.push({ to, chunk }); heldBytes += chunk.length; } else send(to, chunk);
  });
  const server = net.createServer((client) => {
    if (!up) { client.destroy(); return; }
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); }
    forward(client, upstream);
    forward(upstream, client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() { up = false; for (const s of sockets) s.destroy(); },
    restore() { up = true; },
    hold() { holding = true; heldBytes = 0; },
    release() {
      holding = false;
      heldBytes = 0;
      for (const { to, chunk } of queued.splice(0)) if (!to.destroyed) send(to, chunk);
    },
    held: () => heldBytes,
    stall() { for (const s of sockets) stalled.add(s); },
    latency(ms) { delayMs = ms; },
    inTransit: () => [...delayed.values()].reduce((n, q) => n + q.length, 0),
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

export interface SilentServer {
  readonly port: number;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

/** A server that hangs: it accepts TCP connections and never sends a byte (nor closes them), like a frozen process. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
