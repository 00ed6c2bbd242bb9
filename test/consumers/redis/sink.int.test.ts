import { describe, expect, it } from 'vitest';
import { redisKeys, watermarkTime } from '../../../consumers/redis/keys.ts';
import { createRedisSink } from '../../../consumers/redis/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createRedis } from '../../../lib/stores/redis.ts';
import { bar, randomSymbol } from '../../helpers/index.ts';
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

describe('redis-sink keys', () => {
  it('writes price:{symbol}:latest with the configured TTL (default 60 s) and caps bars:{symbol}:{interval}', async () => {
    const config = loadConfig({ REDIS_BARS_CAP: '5' });
    expect(config.REDIS_LATEST_TTL_SECONDS).toBe(60);
    const sink = createRedisSink(config);
    await sink.connect();
    const s = randomSymbol();
    await sink.handlers[0]!.writeBatch([...Array(8).keys()].map((i) => ({ value: bar(s, i, 10 + i), key: s, timestamp: Date.now() })));
    const redis = createRedis(config);
    const ttl = await redis.ttl(`price:${s}:latest`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.hget(`price:${s}:latest`, 'close')).toBe('17');
    expect(await redis.zcard(`bars:${s}:1h`)).toBe(5);
    const newest = JSON.parse((await redis.zrange(`bars:${s}:1h`, '-1', '-1'))[0]!);
    expect(newest.close).toBe(17);
    await redis.quit();
    await sink.close();
  });
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
      await write(bar(s, 0, 10, { vwap: 10.25, trades: 42 }));
      expect(await redis.hmget(redisKeys.latest(s), 'close', 'vwap', 'trades')).toEqual(['10', '10.25', '42']);
      await write(bar(s, 1, 11));
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
      sink.handlers[0]!.writeBatch([{ value: bar(s, i, close), key: s, timestamp: Date.now(), version }]);
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
      expect(await redis.get(redisKeys.watermark(s))).toBe(`${bar(s, 0, 0).eventTime}:9`);
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
        ({ value: bar(s, 0, close!), key: s, timestamp: Date.now(), version })));
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
