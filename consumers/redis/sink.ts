// redis-sink: price-updates → price:{symbol}:latest (hash, live until its bar's end plus two intervals and a margin) and
// bars:{symbol}:{interval} (sorted by event time, capped); price-features → features:{symbol}:{interval} and its history
// (./features.ts).
// One Lua script per symbol+interval keeps each update atomic; all of a batch's calls go in one pipeline (one round trip,
// ./batch.ts).
// Newest wins: price:{symbol}:watermark (no TTL) remembers the (event time, version) written to latest, so an older bar, or
// an older revision of the same bar (a stale writer, a replay), never overwrites it nor refreshes its TTL; each bar
// member carries its version, so an older revision never replaces a newer one of the same bar time. Refused bars are stale.
// Key layout: ./keys.ts. Reset and counts for rebuild: ./store.ts.
import type { Config } from '../../lib/config.ts';
import { classifyRedisError, createRedis, type Redis } from '../../lib/stores/redis.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { intervalMs, isPriceInterval } from '../../topics/price-update.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext } from '../types.ts';
import { supersedes } from '../versions.ts';
import { bySeries, execScripts, latestOf, replaceMembers, type ScriptPipeline } from './batch.ts';
import { APPLY_FEATURES, redisFeaturesHandler, type WithFeaturesScript } from './features.ts';
import { barMember, redisKeys } from './keys.ts';
import { countRedis, replayLossRedis, resetRedis } from './store.ts';

// KEYS: latest, watermark, bars. ARGV: latest's expiry (epoch ms), cap, n, n × (ts, version or '', member), then latest ts, its version or ''
// and its hash field/value pairs. Returns {1 if latest was written else 0, bars refused as stale}.
// A bar replaces the member(s) of its event time unless one carries a version at or above its own; latest moves only to
// a later (event time, version): an equal event time needs a newer version, and a refused write leaves the TTL alone.
// The expiry is an instant derived from the bar (latestExpiresAt), so rewriting a bar never extends it, and an instant
// already past (a replayed old bar) removes the key at once: only the watermark remembers it.
// Unversioned writes keep the behaviour from before versions (an equal event time wins), and lose to any versioned one.
const APPLY_BARS = `
local expire_at, cap, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
${replaceMembers('KEYS[3]', '>=')}
local ts, ver = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
local mark = redis.call('GET', KEYS[2])
if mark then
  local mts, mver = string.match(mark, '^([^:]+):?(.*)$')
  mts, mver = tonumber(mts), tonumber(mver)
  if ts < mts then return {0, stale} end
  if ts == mts and ver and mver and ver <= mver then return {0, stale} end
end
redis.call('SET', KEYS[2], ver and (ARGV[i] .. ':' .. ARGV[i + 1]) or ARGV[i])
redis.call('HSET', KEYS[1], unpack(ARGV, i + 2))
redis.call('PEXPIREAT', KEYS[1], expire_at)
return {1, stale}`;

/**
 * When price:{symbol}:latest written from `bar` stops being live (epoch ms): the bar's end plus two intervals plus the
 * margin (REDIS_LATEST_TTL_SECONDS), counted from the event time, never from the write.
 */
export function latestExpiresAt(bar: Pick<PriceUpdate, 'eventTime' | 'interval'>, marginSeconds: number): number {
  const length = isPriceInterval(bar.interval) ? intervalMs(bar.interval) : 0;
  return Math.floor(bar.eventTime + 3 * length + marginSeconds * 1000);
}

type WithScripts = WithFeaturesScript & { applyBars(...args: (string | number)[]): unknown };

/** Options come from configuration: REDIS_URL, REDIS_LATEST_TTL_SECONDS, REDIS_BARS_CAP, REDIS_FEATURES_TTL_MS, REDIS_FEATURES_HISTORY. */
export function createRedisSink(config: Config, ctx: SinkContext = {}): Sink {
  const { REDIS_LATEST_TTL_SECONDS: marginSeconds, REDIS_BARS_CAP: barsCap } = config;
  let client: Redis | undefined;
  const redis = (): Redis => {
    if (!client) {
      client = createRedis(config);
      client.defineCommand('applyBars', { numberOfKeys: 3, lua: APPLY_BARS });
      client.defineCommand('applyFeatures', { numberOfKeys: 2, lua: APPLY_FEATURES });
    }
    return client;
  };
  const pipeline = () => redis().pipeline() as unknown as WithScripts & ScriptPipeline;

  const prices = priceHandler(ctx.topics?.prices, async (records) => {
    const p = pipeline();
    for (const group of bySeries(records)) {
      const first = group[0]!.value!;
      // Newest by (event time, version); among equal times the later record wins unless it has an older version.
      const newest = latestOf(group, supersedes);
      const latest = newest.value!;
      const args: (string | number)[] = [latestExpiresAt(latest, marginSeconds), barsCap, group.length];
      for (const { value: b, version } of group) args.push(b!.eventTime, version ?? '', barMember(b!, version));
      args.push(latest.eventTime, newest.version ?? '', 'close', latest.close, 'open', latest.open, 'high', latest.high, 'low', latest.low,
        'volume', latest.volume, 'ts', new Date(latest.eventTime).toISOString(), 'interval', latest.interval, 'source', latest.source,
        'vwap', latest.vwap ?? '', 'trades', latest.trades ?? '', // version 2; '' = unknown (overwrites an earlier bar's value)
        'quality', latest.quality); // with interval and ts, what a reader needs for the bar's confidence (topics/price-update.ts priceConfidence)
      p.applyBars(redisKeys.latest(first.symbol), redisKeys.watermark(first.symbol), redisKeys.bars(first.symbol, first.interval), ...args);
    }
    return execScripts(p);
  });
  const features = redisFeaturesHandler(ctx.topics?.features, pipeline, { ttlMs: config.REDIS_FEATURES_TTL_MS, historyCap: config.REDIS_FEATURES_HISTORY });

  return {
    name: 'redis-sink',
    handlers: [prices, features],
    async connect() {
      const r = redis();
      if (r.status === 'wait') await r.connect().catch((err: unknown) => { throw classifyRedisError(err); });
    },
    async ping() { await redis().ping(); },
    async close() { await client?.quit().catch(() => client?.disconnect()); client = undefined; },
    async reset(scope) { await resetRedis(redis(), scope); },
    counts: (scope) => countRedis(redis(), scope),
    replayLoss: (log, scope) => replayLossRedis(redis(), log, { prices: prices.topic, features: features.topic }, scope),
  };
}
