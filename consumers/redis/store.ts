// What redis-sink materializes, cleared and counted for `rebuild`: the keys of ./keys.ts, found with SCAN (never KEYS,
// which blocks the server) and removed with UNLINK. A scope limits both to some symbols.
import type { Redis } from '../../lib/stores/redis.ts';
import type { PriceFeatures, PriceUpdate } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import type { ReplayLoss, ResetScope, RetainedLog, StoreCounts } from '../types.ts';
import { redisKeys, redisPatterns, watermarkTime, type KeyKind } from './keys.ts';

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

/** Keys of the given kinds by symbol (the key's second segment). */
async function keysBySymbol(redis: Redis, kinds: readonly KeyKind[], scope: ResetScope): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const match of redisPatterns(scope.symbols, kinds)) {
    await eachKeyBatch(redis, match, async (keys) => {
      for (const k of keys) {
        const symbol = k.split(':')[1];
        if (symbol !== undefined) (out.get(symbol) ?? out.set(symbol, []).get(symbol)!).push(k);
      }
    });
  }
  return out;
}

/** A range of event times (scores) of what would be lost, with how many of it and of how many symbols. */
class Lost {
  count = 0;
  symbols = 0;
  from = Infinity;
  to = -Infinity;
  add(t: number): void { this.from = Math.min(this.from, t); this.to = Math.max(this.to, t); }
  /** As a ReplayLoss (from/to only when some time is known). */
  loss(what: string, topic: string, detail: string): ReplayLoss {
    const known = Number.isFinite(this.to);
    return { what, count: this.count, from: known ? this.from : undefined, to: known ? this.to : undefined, topic, detail };
  }
}

/**
 * The symbols with keys of `kinds` whose partition of `topic` lost its first records, each with the oldest event time
 * the log still has for it (undefined: nothing left), and its keys.
 */
async function truncatedSymbols<T extends { eventTime: number }>(redis: Redis, log: RetainedLog, topic: TopicDef<T>, kinds: readonly KeyKind[],
  scope: ResetScope): Promise<{ symbol: string; cutoff: number | undefined; keys: string[] }[]> {
  const truncated = new Set(log.truncated(topic.name).map((t) => t.partition));
  if (!truncated.size) return [];
  const keys = await keysBySymbol(redis, kinds, scope);
  const candidates = [...keys.keys()].filter((s) => truncated.has(log.partitionOf(topic.name, s)));
  if (!candidates.length) return [];
  const oldest = await log.oldestByKey(topic, (v) => v.eventTime, candidates);
  return candidates.map((symbol) => ({ symbol, cutoff: oldest.get(symbol), keys: keys.get(symbol)! }));
}

/** Members of the sorted sets `keys` (scores are event times) below `cutoff` (all when undefined), added to `lost`. */
async function lostMembers(redis: Redis, keys: readonly string[], cutoff: number | undefined, lost: Lost): Promise<void> {
  const below = cutoff === undefined ? '+inf' : `(${cutoff}`;
  let n = 0;
  for (const key of keys) {
    const count = await redis.zcount(key, '-inf', below);
    if (!count) continue;
    n += count;
    const [, first] = await redis.zrangebyscore(key, '-inf', below, 'WITHSCORES', 'LIMIT', 0, 1);
    const [, last] = await redis.zrevrangebyscore(key, below, '-inf', 'WITHSCORES', 'LIMIT', 0, 1);
    lost.add(Number(first));
    lost.add(Number(last));
  }
  if (n) { lost.count += n; lost.symbols++; }
}

/**
 * What a replay of `log` would not bring back, per symbol whose partition lost its first records: the bars older than
 * the symbol's oldest bar still in the log (scores are event times), and, for a symbol with nothing left in the log,
 * its latest price and watermark too; the same for the features' history against price-features (not the features
 * hash: it lives REDIS_FEATURES_TTL_MS, a replay or not).
 */
export async function replayLossRedis(redis: Redis, log: RetainedLog, topics: { prices: TopicDef<PriceUpdate>; features: TopicDef<PriceFeatures> },
  scope: ResetScope = {}): Promise<ReplayLoss[]> {
  const bars = new Lost();
  const latest = new Lost();
  for (const { symbol, cutoff, keys } of await truncatedSymbols(redis, log, topics.prices, ['price', 'bars'], scope)) {
    await lostMembers(redis, keys.filter((k) => k.startsWith('bars:')), cutoff, bars);
    if (cutoff !== undefined) continue;
    const priceKeys = keys.filter((k) => k.startsWith('price:'));
    if (!priceKeys.length) continue;
    latest.count += priceKeys.length;
    latest.symbols++;
    const mark = watermarkTime(await redis.get(redisKeys.watermark(symbol)));
    if (Number.isFinite(mark) && mark > 0) latest.add(mark);
  }
  const history = new Lost();
  for (const { cutoff, keys } of await truncatedSymbols(redis, log, topics.features, ['features'], scope)) {
    await lostMembers(redis, keys.filter((k) => k.endsWith(':history')), cutoff, history);
  }
  const older = (lost: Lost) => `of ${lost.symbols} symbol(s), older than the oldest bar the log still has for them`;
  const losses: ReplayLoss[] = [];
  if (bars.count) losses.push(bars.loss('bars in bars:* keys', topics.prices.name, older(bars)));
  if (latest.count) {
    losses.push(latest.loss('price:* keys', topics.prices.name, `(latest price and watermark) of ${latest.symbols} symbol(s) with no bar left in the log`));
  }
  if (history.count) losses.push(history.loss('bars in features:*:history keys', topics.features.name, older(history)));
  return losses;
}
