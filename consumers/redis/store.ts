// What redis-sink materializes, cleared and counted for `rebuild`: the keys of ./keys.ts, found with SCAN (never KEYS,
// which blocks the server) and removed with UNLINK. A scope limits both to some symbols.
import type { Redis } from '../../lib/stores/redis.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import type { ReplayLoss, ResetScope, RetainedLog, StoreCounts } from '../types.ts';
import { redisKeys, redisPatterns, watermarkTime } from './keys.ts';

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

/**
 * What a replay of `log` would not bring back, per symbol whose partition lost its first records: the bars older than
 * the symbol's oldest bar still in the log (scores are event times), and, for a symbol with nothing left in the log,
 * its latest price and watermark too.
 */
export async function replayLossRedis(redis: Redis, log: RetainedLog, prices: TopicDef<PriceUpdate>, scope: ResetScope = {}): Promise<ReplayLoss[]> {
  const truncated = new Set(log.truncated(prices.name).map((t) => t.partition));
  if (!truncated.size) return [];
  const keysBySymbol = new Map<string, string[]>();
  for (const match of redisPatterns(scope.symbols)) {
    await eachKeyBatch(redis, match, async (keys) => {
      for (const k of keys) {
        const symbol = k.split(':')[1];
        if (symbol !== undefined) (keysBySymbol.get(symbol) ?? keysBySymbol.set(symbol, []).get(symbol)!).push(k);
      }
    });
  }
  const candidates = [...keysBySymbol.keys()].filter((s) => truncated.has(log.partitionOf(prices.name, s)));
  if (!candidates.length) return [];
  const oldest = await log.oldestByKey(prices, (v) => v.eventTime, candidates);
  const bars = { count: 0, symbols: 0, from: Infinity, to: -Infinity };
  const latest = { count: 0, symbols: 0, from: Infinity, to: -Infinity };
  for (const symbol of candidates) {
    const cutoff = oldest.get(symbol);
    const below = cutoff === undefined ? '+inf' : `(${cutoff}`;
    let lostBars = 0;
    for (const key of keysBySymbol.get(symbol)!.filter((k) => k.startsWith('bars:'))) {
      const n = await redis.zcount(key, '-inf', below);
      if (!n) continue;
      lostBars += n;
      const [, first] = await redis.zrangebyscore(key, '-inf', below, 'WITHSCORES', 'LIMIT', 0, 1);
      const [, last] = await redis.zrevrangebyscore(key, below, '-inf', 'WITHSCORES', 'LIMIT', 0, 1);
      bars.from = Math.min(bars.from, Number(first));
      bars.to = Math.max(bars.to, Number(last));
    }
    if (lostBars) { bars.count += lostBars; bars.symbols++; }
    if (cutoff === undefined) {
      const priceKeys = keysBySymbol.get(symbol)!.filter((k) => k.startsWith('price:'));
      if (priceKeys.length) {
        latest.count += priceKeys.length;
        latest.symbols++;
        const mark = watermarkTime(await redis.get(redisKeys.watermark(symbol)));
        if (Number.isFinite(mark) && mark > 0) { latest.from = Math.min(latest.from, mark); latest.to = Math.max(latest.to, mark); }
      }
    }
  }
  const losses: ReplayLoss[] = [];
  if (bars.count) {
    losses.push({ what: 'bars in bars:* keys', count: bars.count, from: bars.from, to: bars.to, topic: prices.name,
      detail: `of ${bars.symbols} symbol(s), older than the oldest bar the log still has for them` });
  }
  if (latest.count) {
    const known = Number.isFinite(latest.to);
    losses.push({
      what: 'price:* keys', count: latest.count, from: known ? latest.from : undefined, to: known ? latest.to : undefined, topic: prices.name,
      detail: `(latest price and watermark) of ${latest.symbols} symbol(s) with no bar left in the log`,
    });
  }
  return losses;
}
