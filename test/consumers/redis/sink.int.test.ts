import { describe, expect, it } from 'vitest';
import { redisKeys, watermarkTime } from '../../../consumers/redis/keys.ts';
import { createRedisSink } from '../../../consumers/redis/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createRedis } from '../../../lib/stores/redis.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { bar, HOUR, randomSymbol } from '../../helpers/index.ts';
import { priceSinkContract } from '../contract/prices.ts';

priceSinkContract('redis', async (config) => {
  const redis = createRedis(config);
  await redis.connect();
  const snapshot = async (symbols: string[], versions: boolean) => {
    const out: Record<string, unknown> = {};
    for (const s of symbols) {
      const { ts, close, open, high, low, volume, source, interval } = await redis.hgetall(redisKeys.latest(s));
      const bars = await redis.zrange(redisKeys.bars(s, '1h'), '0', '-1', 'WITHSCORES');
      // Without versions: each member without its `v`, and the watermark's event time alone.
      out[s] = { latest: { ts, close, open, high, low, volume, source, interval },
        bars: versions ? bars : bars.map((m, i) => (i % 2 ? m : JSON.stringify({ ...JSON.parse(m), v: undefined }))),
        watermark: versions ? await redis.get(redisKeys.watermark(s)) : watermarkTime(await redis.get(redisKeys.watermark(s))) };
    }
    return out;
  };
  return {
    snapshot: (symbols) => snapshot(symbols, true),
    values: (symbols) => snapshot(symbols, false),
    count: (symbol) => redis.zcard(redisKeys.bars(symbol, '1h')),
    async latestClose(symbol) {
      const v = await redis.hget(redisKeys.latest(symbol), 'close');
      return v === null ? null : Number(v);
    },
    close: async () => { await redis.quit(); },
  };
}, { keepsHistory: true });

// Bars that ended recently, so price:{symbol}:latest (whose TTL counts from the bar's end) is still live while a test reads it.
const RECENT = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const recent = (symbol: string, i: number, close: number, over: Partial<PriceUpdate> = {}) =>
  bar(symbol, i, close, { eventTime: RECENT + i * HOUR, ingestTime: RECENT + i * HOUR + 5000, ...over });

describe('redis-sink keys', () => {
  it('writes price:{symbol}:latest and caps bars:{symbol}:{interval}', async () => {
    const config = loadConfig({ REDIS_BARS_CAP: '5' });
    expect(config.REDIS_LATEST_TTL_SECONDS).toBe(60);
    const sink = createRedisSink(config);
    await sink.connect();
    const s = randomSymbol();
    await sink.handlers[0]!.writeBatch([...Array(8).keys()].map((i) => ({ value: recent(s, i - 6, 10 + i), key: s, timestamp: Date.now() })));
    const redis = createRedis(config);
    expect(await redis.ttl(`price:${s}:latest`)).toBeGreaterThan(0);
    expect(await redis.hget(`price:${s}:latest`, 'close')).toBe('17');
    expect(await redis.zcard(`bars:${s}:1h`)).toBe(5);
    const newest = JSON.parse((await redis.zrange(`bars:${s}:1h`, '-1', '-1'))[0]!);
    expect(newest.close).toBe(17);
    await redis.quit();
    await sink.close();
  });
});

describe('redis-sink, the latest price\'s TTL follows the bar interval and counts from the bar\'s end (issue #22)', () => {
  const config = loadConfig(); // REDIS_LATEST_TTL_SECONDS 60: the margin
  const MIN = 60_000;
  const write = async (sink: ReturnType<typeof createRedisSink>, value: PriceUpdate) =>
    sink.handlers[0]!.writeBatch([{ value, key: value.symbol, timestamp: Date.now() }]);
  /** When the key expires, as an instant (ms); null when it does not exist. */
  const expiresAt = async (redis: ReturnType<typeof createRedis>, key: string) => {
    const left = await redis.pttl(key);
    return left < 0 ? null : Date.now() + left;
  };

  /** Runs `fn` with a connected sink and client, then removes the keys of the symbols `fn` took from `symbol()`. */
  const withSink = async (fn: (sink: ReturnType<typeof createRedisSink>, redis: ReturnType<typeof createRedis>, symbol: () => string) => Promise<void>) => {
    const sink = createRedisSink(config);
    await sink.connect();
    const redis = createRedis(config);
    const symbols: string[] = [];
    try {
      await fn(sink, redis, () => { const s = randomSymbol(); symbols.push(s); return s; });
    } finally {
      for (const s of symbols) await redis.del(redisKeys.latest(s), redisKeys.watermark(s), ...['1m', '5m', '1h', '1d'].map((i) => redisKeys.bars(s, i)));
      await redis.quit();
      await sink.close();
    }
  };

  it('expires two intervals plus the margin after the bar\'s end (1m, 5m, 1h, 1d): it outlives the next bar', () => withSink(async (sink, redis, symbol) => {
    for (const [interval, length] of [['1m', MIN], ['5m', 5 * MIN], ['1h', 60 * MIN], ['1d', 1440 * MIN]] as const) {
      const s = symbol();
      const start = Math.floor(Date.now() / length) * length - length; // the last complete bar
      await write(sink, recent(s, 0, 10, { interval, eventTime: start }));
      const expected = start + length + 2 * length + 60_000;
      expect(Math.abs((await expiresAt(redis, redisKeys.latest(s)))! - expected), interval).toBeLessThan(2000);
    }
  }));

  it('a replayed months-old bar is not live: no latest key, while its watermark and bar are kept', () => withSink(async (sink, redis, symbol) => {
    const s = symbol();
    const old = bar(s, 0, 10); // 2026-01-05
    await write(sink, old);
    expect(await redis.exists(redisKeys.latest(s))).toBe(0);
    expect(watermarkTime(await redis.get(redisKeys.watermark(s)))).toBe(old.eventTime);
    expect(await redis.zcard(redisKeys.bars(s, '1h'))).toBe(1);
  }));

  it('a redelivered last bar (same event time, no version) does not move the expiry', () => withSink(async (sink, redis, symbol) => {
    const s = symbol();
    const last = recent(s, 0, 10, { interval: '1m', eventTime: Math.floor(Date.now() / MIN) * MIN - MIN });
    await write(sink, last);
    const first = await expiresAt(redis, redisKeys.latest(s));
    await new Promise((r) => setTimeout(r, 1500));
    await write(sink, last);
    expect(Math.abs((await expiresAt(redis, redisKeys.latest(s)))! - first!)).toBeLessThan(500);
  }));
});

describe('redis-sink, price-update version 2', () => {
  it('carries vwap and trades in price:{symbol}:latest, empty when the latest bar has none', async () => {
    const config = loadConfig();
    const sink = createRedisSink(config);
    await sink.connect();
    const redis = createRedis(config);
    const s = randomSymbol();
    const write = (...bars: ReturnType<typeof bar>[]) => sink.handlers[0]!.writeBatch(bars.map((value) => ({ value, key: s, timestamp: Date.now() })));
    try {
      await write(recent(s, 0, 10, { vwap: 10.25, trades: 42 }));
      expect(await redis.hmget(redisKeys.latest(s), 'close', 'vwap', 'trades')).toEqual(['10', '10.25', '42']);
      await write(recent(s, 1, 11));
      expect(await redis.hmget(redisKeys.latest(s), 'close', 'vwap', 'trades')).toEqual(['11', '', '']);
    } finally {
      await redis.quit();
      await sink.close();
    }
  });
});

describe('redis-sink, newest wins (issue #19)', () => {
  it('refuses an equal event time with an older or equal version (TTL untouched), and lets a newer version win', async () => {
    const config = loadConfig();
    const sink = createRedisSink(config);
    await sink.connect();
    const redis = createRedis(config);
    const s = randomSymbol();
    const write = (close: number, version: number, i = 0) =>
      sink.handlers[0]!.writeBatch([{ value: recent(s, i, close), key: s, timestamp: Date.now(), version }]);
    const bars = async () => (await redis.zrange(redisKeys.bars(s, '1h'), '0', '-1')).map((m) => JSON.parse(m) as { close: number; v: number });
    try {
      expect(await write(105, 5)).toEqual({ stale: 0 });
      await redis.expire(redisKeys.latest(s), 10);
      expect(await write(103, 3)).toEqual({ stale: 1 });
      expect(await write(105, 5)).toEqual({ stale: 1 }); // a replay: equal version
      expect(await redis.hget(redisKeys.latest(s), 'close')).toBe('105');
      expect(await redis.ttl(redisKeys.latest(s))).toBeLessThanOrEqual(10);
      expect((await bars()).map((b) => [b.close, b.v])).toEqual([[105, 5]]);

      expect(await write(109, 9)).toEqual({ stale: 0 }); // a correction of the same bar
      expect(await redis.hget(redisKeys.latest(s), 'close')).toBe('109');
      expect(await redis.ttl(redisKeys.latest(s))).toBeGreaterThan(10);
      expect(await redis.get(redisKeys.watermark(s))).toBe(`${recent(s, 0, 0).eventTime}:9`);
      expect((await bars()).map((b) => [b.close, b.v])).toEqual([[109, 9]]);

      // An older bar time with a newer version goes into the history, not over latest.
      expect(await write(90, 12, -1)).toEqual({ stale: 0 });
      expect(await redis.hget(redisKeys.latest(s), 'close')).toBe('109');
      expect((await bars()).map((b) => [b.close, b.v])).toEqual([[90, 12], [109, 9]]);
    } finally {
      await redis.del(redisKeys.latest(s), redisKeys.watermark(s), redisKeys.bars(s, '1h'));
      await redis.quit();
      await sink.close();
    }
  });

  it('within one batch, the highest version of a bar time wins, wherever it sits', async () => {
    const config = loadConfig();
    const sink = createRedisSink(config);
    await sink.connect();
    const redis = createRedis(config);
    const s = randomSymbol();
    try {
      const r = await sink.handlers[0]!.writeBatch([[100, 4], [108, 8], [105, 5]].map(([close, version]) =>
        ({ value: recent(s, 0, close!), key: s, timestamp: Date.now(), version })));
      expect(r).toEqual({ stale: 1 });
      expect(await redis.hget(redisKeys.latest(s), 'close')).toBe('108');
      expect((await redis.zrange(redisKeys.bars(s, '1h'), '0', '-1')).map((m) => JSON.parse(m).close)).toEqual([108]);
    } finally {
      await redis.del(redisKeys.latest(s), redisKeys.watermark(s), redisKeys.bars(s, '1h'));
      await redis.quit();
      await sink.close();
    }
  });
});
