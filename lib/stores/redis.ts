// Redis: client construction from config. Commands queue while disconnected and reconnect with backoff;
// a write that fails while Redis is down surfaces as a TransientError through the sink.
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
  client.on('error', () => {}); // reported through failed commands, not as an unhandled event
  return client;
}
