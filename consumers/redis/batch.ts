// What the redis-sink's handlers share: a batch split by series (symbol, interval), one Lua script call per series, all
// of a batch's calls in one pipeline (one round trip), each script answering {written, refused as stale}.
import { classifyRedisError } from '../../lib/stores/redis.ts';
import type { SinkRecord, WriteResult } from '../types.ts';
import type { BarKey, Supersedes } from '../versions.ts';

/**
 * The Lua both scripts apply a batch's members with: ARGV from 4 holds `n` × (event time, version or '', member); each
 * replaces the member(s) of its event time in the sorted set `set` unless a stored one carries a version `refusedAt`
 * its own ('>=': an equal version is stale, as for bars; '>': it overwrites, as for features), counted in `stale`; then
 * the set is capped at `cap`, newest kept. Leaves `i` at the ARGV after them.
 */
export function replaceMembers(set: string, refusedAt: '>' | '>='): string {
  return `local i, stale = 4, 0
for _ = 1, n do
  local ver, keep = tonumber(ARGV[i + 1]), true
  if ver then
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', ${set}, ARGV[i], ARGV[i])) do
      local ok, old = pcall(cjson.decode, m)
      if ok and type(old) == 'table' and tonumber(old.v) and tonumber(old.v) ${refusedAt} ver then keep = false end
    end
  end
  if keep then
    redis.call('ZREMRANGEBYSCORE', ${set}, ARGV[i], ARGV[i])
    redis.call('ZADD', ${set}, ARGV[i], ARGV[i + 2])
  else
    stale = stale + 1
  end
  i = i + 3
end
redis.call('ZREMRANGEBYRANK', ${set}, 0, -cap - 1)`;
}

/** The records of each (symbol, interval), in batch order. */
export function bySeries<R extends BarKey>(records: readonly SinkRecord<R>[]): SinkRecord<R>[][] {
  const groups = new Map<string, SinkRecord<R>[]>();
  for (const r of records) {
    const k = `${r.value!.symbol}\u0000${r.value!.interval}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  }
  return [...groups.values()];
}

/** The record of a series' latest bar: the latest event time, and among equal times the later record unless `wins` refuses it. */
export function latestOf<R extends BarKey>(series: readonly SinkRecord<R>[], wins: Supersedes): SinkRecord<R> {
  return series.reduce((a, b) => (b.value!.eventTime > a.value!.eventTime || (b.value!.eventTime === a.value!.eventTime && wins(b, a)) ? b : a));
}

/** A pipeline of script calls, as ioredis gives it. */
export interface ScriptPipeline { exec(): Promise<[Error | null, unknown][] | null> }

/** Runs the pipeline; any failed call fails the batch (classified), otherwise the stale counts are summed. */
export async function execScripts(pipeline: ScriptPipeline): Promise<WriteResult> {
  const results = await pipeline.exec().catch((err: unknown) => { throw classifyRedisError(err); });
  const failed = results?.find(([err]) => err)?.[0];
  if (!results || failed) throw classifyRedisError(failed ?? new Error('no reply to the pipeline'));
  return { stale: results.reduce((n, [, r]) => n + Number((r as [number, number])[1]), 0) };
}
