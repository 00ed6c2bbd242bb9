// redis-sink on price-features against the real Kafka, registry and Redis (isolated topics, random group and symbols):
// the sink contract, plus: features:{symbol}:{interval} holds the latest bar's values ('' for a value not known yet)
// and features:{symbol}:{interval}:history one member per bar, capped; a later bar moves the hash, a correction of an
// older bar replaces its member only; newest wins by the `marketstream-source-version` header, an equal version
// overwriting; the hash's TTL counts from each write that moves it, and an older record never brings an expired hash
// back; reset and counts by symbol.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../../consumers/redis/keys.ts';
import { createRedisSink } from '../../../consumers/redis/sink.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createRedis, type Redis } from '../../../lib/stores/redis.ts';
import type { PriceFeatures } from '../../../schemas/types.generated.ts';
import { BAR_T0, DEFINITION, featureBar, HOUR, randomSymbol, testConfig, waitFor, warmUpBar } from '../../helpers/index.ts';
import { featuresSinkContract, sendFeatures } from '../contract/features.ts';
import { sinkUnderTest } from '../contract/harness.ts';

const hash = (redis: Redis, s: string) => redis.hgetall(redisKeys.features(s, '1h'));
const history = async (redis: Redis, s: string) =>
  (await redis.zrange(redisKeys.featuresHistory(s, '1h'), '0', '-1')).map((m) => JSON.parse(m) as { ts: number; rsi: number | null; v?: number });

/** Long enough that no hash expires while a test reads it (the default, 2 s, is checked on its own). */
const LIVE = { REDIS_FEATURES_TTL_MS: 600_000 };

const symbols: string[] = [];
const sym = () => { const s = randomSymbol(); symbols.push(s); return s; };
let cleanup: Redis | undefined;
afterAll(async () => {
  for (const s of symbols) await cleanup?.del(redisKeys.features(s, '1h'), redisKeys.featuresHistory(s, '1h'));
  await cleanup?.quit();
});

featuresSinkContract('redis', async (config) => {
  const redis = createRedis(config);
  await redis.connect();
  // Without versions: the hash without its `version`, each member without its `v`.
  const snapshot = async (keys: string[], versions: boolean) => {
    const out: Record<string, unknown> = {};
    for (const s of keys) {
      const { version, ...fields } = await hash(redis, s);
      const members = await redis.zrange(redisKeys.featuresHistory(s, '1h'), '0', '-1', 'WITHSCORES');
      out[s] = versions ? { hash: { ...fields, version }, members }
        : { hash: fields, members: members.map((m, i) => (i % 2 ? m : JSON.stringify({ ...JSON.parse(m), v: undefined }))) };
    }
    return out;
  };
  return {
    snapshot: (keys) => snapshot(keys, true),
    values: (keys) => snapshot(keys, false),
    count: (s) => redis.zcard(redisKeys.featuresHistory(s, '1h')),
    async latestClose(s) {
      const v = await redis.hget(redisKeys.features(s, '1h'), 'close');
      return v === null ? null : Number(v);
    },
    close: async () => { await redis.quit(); },
  };
}, { config: () => LIVE });

describe('redis-sink: price-features → features:{symbol}:{interval} and its history', () => {
  const sut = sinkUnderTest('redis', { config: () => ({ ...LIVE, REDIS_FEATURES_HISTORY: 5 }) });
  let redis: Redis;
  const send = (records: readonly (readonly [PriceFeatures, number])[]) => sendFeatures(sut, records).then(() => sut.settle('features'));

  beforeAll(async () => {
    redis = cleanup = createRedis(sut.base);
    await redis.connect();
    await sut.start();
  });

  it('holds the latest bar\'s values in the hash (\'\' for one not known yet), and a member per bar in the history', async () => {
    const s = sym();
    const latest = featureBar(s, 2, 102, { rsi: null, vwap: null });
    await send([[warmUpBar(s, 0, 100), 1], [featureBar(s, 1, 101), 2], [latest, 3]]);
    expect(await hash(redis, s)).toEqual({
      ts: new Date(BAR_T0 + 2 * HOUR).toISOString(), interval: '1h', bars: '42', close: '102', definition: DEFINITION,
      computedAt: new Date(latest.computedAt).toISOString(), version: '3',
      // Every double as JavaScript prints it: the shortest text that reads back to the same number.
      sma: String(latest.sma), emaFast: String(latest.emaFast), emaSlow: String(latest.emaSlow), macd: '0.30000000000000004',
      macdSignal: String(latest.macdSignal), macdHistogram: String(latest.macdHistogram), rsi: '', bollingerUpper: String(latest.bollingerUpper),
      bollingerMiddle: String(latest.bollingerMiddle), bollingerLower: String(latest.bollingerLower), atr: String(latest.atr),
      logReturn: String(latest.logReturn), realizedVolatility: String(latest.realizedVolatility), vwap: '',
    });
    const members = await history(redis, s);
    expect(members.map((m) => [m.ts, m.rsi, m.v])).toEqual([[BAR_T0, null, 1], [BAR_T0 + HOUR, 100 / 3 + 1, 2], [BAR_T0 + 2 * HOUR, null, 3]]);
    expect(members[1]).toEqual({ ts: BAR_T0 + HOUR, bars: 41, close: 101, ...Object.fromEntries(Object.entries(featureBar(s, 1, 101))
      .filter(([k]) => !['symbol', 'interval', 'eventTime', 'bars', 'close', 'definition', 'computedAt'].includes(k))), v: 2 });
  });

  it('a later bar moves the hash; a correction of an older bar replaces its member only', async () => {
    const s = sym();
    await send([[featureBar(s, 0, 100), 1], [featureBar(s, 1, 101), 2]]);
    await send([[featureBar(s, 2, 102), 3]]);
    expect((await hash(redis, s)).close).toBe('102');
    // Bar 1 corrected (a newer version of price-updates): its features recomputed, bar 2's hash stays.
    await send([[featureBar(s, 1, 99, { rsi: 12.5 }), 10]]);
    expect(await redis.hmget(redisKeys.features(s, '1h'), 'close', 'version')).toEqual(['102', '3']);
    expect((await history(redis, s)).map((m) => [m.ts, m.rsi, m.v]))
      .toEqual([[BAR_T0, 100 / 3, 1], [BAR_T0 + HOUR, 12.5, 10], [BAR_T0 + 2 * HOUR, 100 / 3 + 2, 3]]);
  });

  it('newest wins by version: an older one is refused as stale, an equal one overwrites (a new definition)', async () => {
    const s = sym();
    await send([[featureBar(s, 0, 100, { rsi: 50 }), 5]]);
    const stale = sut.stale('features');
    await send([[featureBar(s, 0, 100, { rsi: 30 }), 4]]);
    expect(await redis.hmget(redisKeys.features(s, '1h'), 'rsi', 'version')).toEqual(['50', '5']);
    expect((await history(redis, s)).map((m) => [m.rsi, m.v])).toEqual([[50, 5]]);
    expect(sut.stale('features')).toBe(stale + 1);

    await send([[featureBar(s, 0, 100, { rsi: 51, definition: 'RSI(21)' }), 5]]);
    expect(await redis.hmget(redisKeys.features(s, '1h'), 'rsi', 'definition', 'version')).toEqual(['51', 'RSI(21)', '5']);
    expect((await history(redis, s)).map((m) => [m.rsi, m.v])).toEqual([[51, 5]]);
    expect(sut.stale('features')).toBe(stale + 1);
  });

  it('the hash\'s TTL counts from each write that moves it; a refused one leaves it alone', async () => {
    const s = sym();
    await send([[featureBar(s, 0, 100), 5]]);
    const ttl = () => redis.pttl(redisKeys.features(s, '1h'));
    const first = await ttl();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(LIVE.REDIS_FEATURES_TTL_MS);
    await sleep(1200);
    await send([[featureBar(s, 0, 100, { rsi: 1 }), 4]]); // refused
    const afterRefused = await ttl();
    expect(afterRefused).toBeLessThan(first - 1000);
    await send([[featureBar(s, 1, 101), 6]]); // the next bar
    expect(await ttl()).toBeGreaterThan(afterRefused + 1000);
  });

  it('caps the history at REDIS_FEATURES_HISTORY, keeping the latest bars', async () => {
    const s = sym();
    await send([...Array(8).keys()].map((i) => [featureBar(s, i, 100 + i), i + 1] as const));
    expect((await history(redis, s)).map((m) => m.ts)).toEqual([3, 4, 5, 6, 7].map((i) => BAR_T0 + i * HOUR));
    expect((await hash(redis, s)).close).toBe('107');
  });

  it('reset and counts by symbol: features:* keys of those symbols only', async () => {
    const [a, b] = [sym(), sym()];
    await send([[featureBar(a, 0, 100), 1], [featureBar(b, 0, 200), 2]]);
    const sink = createRedisSink(testConfig());
    await sink.connect();
    try {
      expect(await sink.counts!({ symbols: [a] })).toEqual({ 'price:* keys': 0, 'bars:* keys': 0, 'features:* keys': 2 });
      await sink.reset!({ symbols: [a] });
      expect(await sink.counts!({ symbols: [a, b] })).toEqual({ 'price:* keys': 0, 'bars:* keys': 0, 'features:* keys': 2 });
      expect(await redis.exists(redisKeys.features(a, '1h'), redisKeys.featuresHistory(a, '1h'))).toBe(0);
      expect(await redis.exists(redisKeys.features(b, '1h'), redisKeys.featuresHistory(b, '1h'))).toBe(2);
    } finally {
      await sink.close();
    }
  });
});

describe('redis-sink: the features hash expires REDIS_FEATURES_TTL_MS after its last write', () => {
  const sut = sinkUnderTest('redis', { config: () => ({ REDIS_FEATURES_TTL_MS: 1000 }) });
  let redis: Redis;

  beforeAll(async () => {
    redis = createRedis(sut.base);
    await redis.connect();
    await sut.start();
  });
  afterAll(async () => { await redis?.quit(); });

  it('defaults to 2 s', () => {
    expect(loadConfig({}).REDIS_FEATURES_TTL_MS).toBe(2000);
  });

  it('once expired, an older bar (or an older version of the latest) does not bring it back; a newer record does', async () => {
    const s = sym();
    await sendFeatures(sut, [[featureBar(s, 0, 100), 1], [featureBar(s, 1, 101), 2]]);
    await sut.settle('features');
    await waitFor(async () => (await redis.exists(redisKeys.features(s, '1h'))) === 0, { what: 'the hash to expire', timeoutMs: 10_000 });
    expect(await redis.zcard(redisKeys.featuresHistory(s, '1h'))).toBe(2); // the history stays: the hash's watermark

    await sendFeatures(sut, [[featureBar(s, 0, 99, { rsi: 5 }), 9], [featureBar(s, 1, 101, { rsi: 6 }), 1]]);
    await sut.settle('features');
    expect(await redis.exists(redisKeys.features(s, '1h'))).toBe(0);
    expect((await history(redis, s)).map((m) => [m.rsi, m.v])).toEqual([[5, 9], [100 / 3 + 1, 2]]);

    await sendFeatures(sut, [[featureBar(s, 1, 101, { rsi: 7 }), 2]]); // an equal version of the latest bar: overwrites
    // Read with its TTL at once: the hash lives 1 s.
    let ttl = Number.NaN;
    await waitFor(async () => {
      const [rsi, left] = (await redis.multi().hget(redisKeys.features(s, '1h'), 'rsi').pttl(redisKeys.features(s, '1h')).exec())!.map(([, v]) => v);
      ttl = left as number;
      return rsi === '7';
    }, { what: 'the hash written again', timeoutMs: 30_000, intervalMs: 20 });
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
  });
});
