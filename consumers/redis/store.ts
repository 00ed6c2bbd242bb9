// What redis-sink materializes, cleared and counted for `rebuild`: the keys of ./keys.ts, found with SCAN (never KEYS,
// which blocks the server) and removed with UNLINK. A scope limits both to some symbols.
import type { Redis } from '../../lib/stores/redis.ts';
import type { ResetScope, StoreCounts } from '../types.ts';
import { redisPatterns } from './keys.ts';

async function eachKeyBatch(redis: Redis, match: string, fn: (keys: string[]) => Promise<unknown>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await fn(keys);
  } while (cursor !== '0');
}

/** Deletes the sink's keys. Returns how many. */
export async function resetRedis(redis: Redis, scope: ResetScope = {}): Promise<number> {
  let deleted = 0;
  for (const match of redisPatterns(scope.symbols)) await eachKeyBatch(redis, match, async (keys) => { deleted += await redis.unlink(...keys); });
  return deleted;
}

/** Keys per kind (`price:* keys`, `bars:* keys`). */
export async function countRedis(redis: Redis, scope: ResetScope = {}): Promise<StoreCounts> {
  const out: StoreCounts = {};
  for (const match of redisPatterns(scope.symbols)) {
    const kind = `${match.split(':')[0]}:* keys`;
    out[kind] ??= 0;
    await eachKeyBatch(redis, match, async (keys) => { out[kind]! += keys.length; });
  }
  return out;
}
