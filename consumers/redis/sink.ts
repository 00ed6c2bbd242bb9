// redis-sink: price-updates → price:{symbol}:latest (hash with TTL) and bars:{symbol}:{interval} (sorted by event time, capped).
// One Lua script per symbol+interval keeps each update atomic; all of a batch's calls go in one pipeline (one round trip).
// An older record never overwrites a newer latest: price:{symbol}:watermark (no TTL) remembers the newest event time written.
// Key layout: ./keys.ts. Reset and counts for rebuild: ./store.ts.
import type { Config } from '../../lib/config.ts';
import { classifyRedisError, createRedis, type Redis } from '../../lib/stores/redis.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext } from '../types.ts';
import { barMember, redisKeys } from './keys.ts';
import { countRedis, replayLossRedis, resetRedis } from './store.ts';

// KEYS: latest, watermark, bars. ARGV: ttl, cap, n, n × (ts, member), then latest ts and its hash field/value pairs.
const APPLY_BARS = `
local ttl, cap, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local i = 4
for _ = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[3], ARGV[i], ARGV[i])
  redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -cap - 1)
local ts = tonumber(ARGV[i])
local mark = tonumber(redis.call('GET', KEYS[2]) or '-1')
if ts < mark then return 0 end
redis.call('SET', KEYS[2], ARGV[i])
redis.call('HSET', KEYS[1], unpack(ARGV, i + 1))
redis.call('EXPIRE', KEYS[1], ttl)
return 1`;

type WithScript = Redis & { applyBars(...args: (string | number)[]): Promise<number> };

/** Options come from configuration: REDIS_URL, REDIS_LATEST_TTL_SECONDS, REDIS_BARS_CAP. */
export function createRedisSink(config: Config, ctx: SinkContext = {}): Sink {
  const { REDIS_LATEST_TTL_SECONDS: latestTtlSeconds, REDIS_BARS_CAP: barsCap } = config;
  let client: WithScript | undefined;
  const redis = (): WithScript => {
    if (!client) {
      client = createRedis(config) as WithScript;
      client.defineCommand('applyBars', { numberOfKeys: 3, lua: APPLY_BARS });
    }
    return client;
  };

  const prices = priceHandler(ctx.topics?.prices, async (records) => {
    const groups = new Map<string, PriceUpdate[]>();
    for (const { value } of records) {
      const k = `${value!.symbol}\u0000${value!.interval}`;
      (groups.get(k) ?? groups.set(k, []).get(k)!).push(value!);
    }
    const pipeline = redis().pipeline() as unknown as WithScript & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const bars of groups.values()) {
      const first = bars[0]!;
      // Newest by event time; among equal times the later record (offset order) wins.
      const latest = bars.reduce((a, b) => (b.eventTime >= a.eventTime ? b : a));
      const args: (string | number)[] = [latestTtlSeconds, barsCap, bars.length];
      for (const b of bars) args.push(b.eventTime, barMember(b));
      args.push(latest.eventTime, 'close', latest.close, 'open', latest.open, 'high', latest.high, 'low', latest.low,
        'volume', latest.volume, 'ts', new Date(latest.eventTime).toISOString(), 'interval', latest.interval, 'source', latest.source,
        'vwap', latest.vwap ?? '', 'trades', latest.trades ?? ''); // version 2; '' = unknown (overwrites an earlier bar's value)
      pipeline.applyBars(redisKeys.latest(first.symbol), redisKeys.watermark(first.symbol), redisKeys.bars(first.symbol, first.interval), ...args);
    }
    const results = await pipeline.exec().catch((err: unknown) => { throw classifyRedisError(err); });
    const failed = results?.find(([err]) => err)?.[0];
    if (!results || failed) throw classifyRedisError(failed ?? new Error('no reply to the pipeline'));
  });

  return {
    name: 'redis-sink',
    handlers: [prices],
    async connect() {
      const r = redis();
      if (r.status === 'wait') await r.connect().catch((err: unknown) => { throw classifyRedisError(err); });
    },
    async ping() { await redis().ping(); },
    async close() { await client?.quit().catch(() => client?.disconnect()); client = undefined; },
    async reset(scope) { await resetRedis(redis(), scope); },
    counts: (scope) => countRedis(redis(), scope),
    replayLoss: (log, scope) => replayLossRedis(redis(), log, prices.topic, scope),
  };
}
