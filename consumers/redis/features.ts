// price-features → features:{symbol}:{interval} (hash of the latest bar's indicators, live REDIS_FEATURES_TTL_MS from
// each write, as the system this replaces cached them for its scanners) and features:{symbol}:{interval}:history (one
// member per bar, sorted by event time, capped at REDIS_FEATURES_HISTORY). Key layout: ./keys.ts.
// Newest wins as for prices (./sink.ts), with equal versions overwriting: a record's version is that of the
// price-updates record its bar was computed from, so a record of a bar with an equal version saw the same input, and the
// later one is a newer indicator definition. A member of the history is replaced by a record of its bar time unless it
// carries a newer version (that record is refused as stale); the hash shows the history's newest member: it is written
// when the batch's latest record is kept in the history and no later bar is there. The history is the hash's
// watermark (no TTL), so a late or older record never overwrites the hash, nor refreshes its TTL, even once it expired.
// A null value is stored as '' in the hash (as price:{symbol}:latest's unknown vwap) and as null in the history.
import type { PriceFeatures } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import { featuresHandler } from '../features-handler.ts';
import type { TopicHandler } from '../types.ts';
import { supersedesOrEquals } from '../versions.ts';
import { bySeries, execScripts, latestOf, replaceMembers, type ScriptPipeline } from './batch.ts';
import { featuresHashFields, featuresMember, redisKeys } from './keys.ts';

// KEYS: hash, history. ARGV: the hash's TTL (ms), the cap, n, n × (ts, version or '', member), then the latest record's
// ts and member, and the hash's field/value pairs. Returns {1 if the hash was written else 0, records refused as stale}.
// The history is trimmed before the hash is decided: trimming keeps the newest members, so the newest one stays.
// Unversioned records replace the member of their bar time (the behaviour from before versions), and lose to none.
export const APPLY_FEATURES = `
local ttl, cap, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
${replaceMembers('KEYS[2]', '>')}
if not redis.call('ZSCORE', KEYS[2], ARGV[i + 1]) then return {0, stale} end
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[i], '+inf') > 0 then return {0, stale} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, i + 2))
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, stale}`;

/** A client (or pipeline) with APPLY_FEATURES defined as `applyFeatures`. */
export interface WithFeaturesScript { applyFeatures(...args: (string | number)[]): unknown }

/** The redis-sink's handler for price-features (or an override); `pipeline` gives a pipeline of the sink's client. */
export function redisFeaturesHandler(topic: TopicDef<PriceFeatures> | undefined, pipeline: () => WithFeaturesScript & ScriptPipeline,
  o: { ttlMs: number; historyCap: number }): TopicHandler<PriceFeatures> {
  return featuresHandler(topic, async (records) => {
    const p = pipeline();
    for (const series of bySeries(records)) {
      const { value: first } = series[0]!;
      const latest = latestOf(series, supersedesOrEquals);
      const args: (string | number)[] = [o.ttlMs, o.historyCap, series.length];
      for (const { value: f, version } of series) args.push(f!.eventTime, version ?? '', featuresMember(f!, version));
      args.push(latest.value!.eventTime, featuresMember(latest.value!, latest.version), ...featuresHashFields(latest.value!, latest.version));
      p.applyFeatures(redisKeys.features(first!.symbol, first!.interval), redisKeys.featuresHistory(first!.symbol, first!.interval), ...args);
    }
    return execScripts(p);
  });
}
