// Redis: client construction from config. Commands queue while disconnected and reconnect with backoff;
// a write that fails while Redis is down surfaces as a TransientError through the sink.
// A server that refuses our credentials (WRONGPASS, NOAUTH) is down for us, not a reason to give up: ioredis fails the
// queued commands with that reply error and reconnects (retryStrategy), and connect() rejects with it (ioredis itself
// only says "Connection is closed."), so the sink classifies it as retriable with its code.
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';

export type { Redis };

export function createRedis(config: Config, opts: { lazyConnect?: boolean } = {}): Redis {
  const client = new Redis(config.REDIS_URL, {
    lazyConnect: opts.lazyConnect ?? true,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(200 * 2 ** times, 5000),
  });
  // Reported through failed commands, not as an unhandled event; the last one explains a failed connect().
  let lastError: Error | undefined;
  client.on('error', (err: Error) => { lastError = err; });
  const connect = client.connect.bind(client);
  client.connect = (() => {
    lastError = undefined;
    return connect().catch((err: unknown) => { throw lastError && lastError !== err ? lastError : err; });
  }) as Redis['connect'];
  return client;
}
