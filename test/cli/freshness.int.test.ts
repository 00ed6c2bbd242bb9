// Freshness during and outside market hours, against the real Kafka, registry, PostgreSQL and Redis: postgres-sink and
// redis-sink consume 1m bars on isolated topics in a process whose observability runs on an injected clock. At 11:00 on
// a Tuesday in New York, a symbol whose newest bar is 10:50 is 8 minutes late: /ready fails naming it, the store and
// the limit, and /metrics shows the data age; on a Saturday the same data is no alarm (/ready 200); a fresh bar makes
// the Tuesday ready again. `explain`'s prices part shows the bar's confidence falling with its lateness, and Redis'
// latest hash carries the quality a reader needs for it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExplanation } from '../../cli/explain/format.ts';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import { redisKeys } from '../../consumers/redis/keys.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import { pricesOf } from '../../ops/explain/prices.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceFeatures, priceUpdates, withName } from '../../topics/index.ts';
import { deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { ready, sample, scrape } from '../helpers/metrics.ts';

const MIN = 60_000;
// 2026-03-03 is a Tuesday: 11:00 in New York (EST) is 16:00 UTC. 2026-03-07 is a Saturday.
const TUESDAY_11 = Date.parse('2026-03-03T16:00:00.000Z');
const SATURDAY_NOON = Date.parse('2026-03-07T17:00:00.000Z');
const symbol = randomSymbol();
const other = randomSymbol(); // not in SYMBOLS: reported, never judged
const topics = {
  prices: withName(priceUpdates, randomName('test-fresh-prices')),
  events: withName(marketEvents, randomName('test-fresh-events')),
  features: withName(priceFeatures, randomName('test-fresh-features')),
};
const config = {
  ...testConfig({ SYMBOLS: symbol, GAPS_CALENDAR: 'us', FRESHNESS_LIMITS: '1m=300' }),
  KAFKA_GROUP_PREFIX: randomName('test-fresh'), METRICS_PORT: 0, METRICS_HOST: '127.0.0.1', LAG_REFRESH_SECONDS: 0.3,
};
const logger = testLogger('freshness');
const kafka = testKafka(config, 'freshness');

/** A 1m bar of `s` at `eventTime`. */
const minuteBar = (s: string, eventTime: number, over: Partial<PriceUpdate> = {}): PriceUpdate => ({
  symbol: s, interval: '1m', eventTime, open: 100, high: 101, low: 99, close: 100.5, volume: 1000, source: 'synthetic', ingestTime: eventTime + 61_000,
  quality: 1, vwap: null, trades: null, ...over,
});

describe('freshness and /ready by the market calendar', () => {
  let clock = TUESDAY_11;
  let obs: Observability;
  let publisher: Publisher;
  let running: RunningSinks | undefined;
  const pool = createPgPool(config, { max: 1 });
  const redis = createRedis(config);
  const postgresGroup = groupIdOf(config, 'postgres');
  const redisGroup = groupIdOf(config, 'redis');

  beforeAll(async () => {
    await ensureTopics(kafka, config, Object.values(topics));
    obs = await startObservability({ config, logger, command: 'test freshness', metrics: createMetrics({ defaultMetrics: false }), now: () => clock });
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    running = await startSinks({ config, logger, names: ['postgres', 'redis'], topics, hooks: obs.sinkHooks });
    obs.started();
    await waitFor(async () => (await ready(obs.url)).status === 200, { what: 'both groups joined', timeoutMs: 60_000 });
  });

  afterAll(async () => {
    await running?.stop();
    await obs?.close();
    await publisher?.disconnect();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [[symbol, other]]);
    await pool.end();
    for (const s of [symbol, other]) await redis.unlink(redisKeys.latest(s), redisKeys.watermark(s), redisKeys.bars(s, '1m'));
    redis.disconnect();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('Tuesday 11:00: a series 8 minutes late fails /ready with the reason; /metrics has its data age', async () => {
    // 10:41 … 10:50: the 10:51 bar was complete at 10:52, eight minutes ago.
    await publisher.send(topics.prices, [...Array(10).keys()].map((i) => minuteBar(symbol, TUESDAY_11 - (19 - i) * MIN)), { source: 'test' });
    const r = await waitFor(async () => {
      const x = await ready(obs.url);
      return x.reasons.length === 2 ? x : null;
    }, { what: '/ready naming the late series in both stores', timeoutMs: 60_000 });
    expect(r.status).toBe(503);
    const why = (group: string, store: string) => `${group}: ${symbol} 1m is 8 min late in ${store} (newest bar 2026-03-03T15:50:00.000Z, ended 9 min ago; ` +
      'limit 5 min while the us market is open)';
    expect(r.reasons.sort()).toEqual([why(postgresGroup, 'postgres'), why(redisGroup, 'redis')].sort());
    const text = await scrape(obs.url);
    for (const store of ['postgres', 'redis']) expect(sample(text, 'marketstream_data_age_seconds', { store, symbol, interval: '1m' })).toBe(540);
  });

  it('Saturday: the same data is no alarm; /metrics still says how old it is', async () => {
    clock = SATURDAY_NOON;
    expect(await ready(obs.url)).toEqual({ status: 200, reasons: [] });
    const age = (SATURDAY_NOON - (TUESDAY_11 - 9 * MIN)) / 1000;
    expect(sample(await scrape(obs.url), 'marketstream_data_age_seconds', { store: 'redis', symbol, interval: '1m' })).toBe(age);
  });

  it('Tuesday again: a fresh bar makes the process ready; a symbol outside SYMBOLS is never judged', async () => {
    clock = TUESDAY_11;
    expect((await ready(obs.url)).status).toBe(503);
    await publisher.send(topics.prices, [minuteBar(other, TUESDAY_11 - 60 * MIN), minuteBar(symbol, TUESDAY_11 - MIN)], { source: 'test' });
    await waitFor(async () => (await ready(obs.url)).status === 200, { what: '/ready 200 after the 10:59 bar', timeoutMs: 60_000 });
    await waitFor(async () => sample(await scrape(obs.url), 'marketstream_data_age_seconds', { store: 'postgres', symbol: other, interval: '1m' }) === 3540,
      { what: 'the other symbol\'s age' });
    expect((await ready(obs.url)).status).toBe(200);
  });

  it('explain: the newest bar per interval with its confidence, falling as it gets late', async () => {
    await waitFor(async () => (await pricesOf(pool, config, symbol, TUESDAY_11))[0]?.eventTime === TUESDAY_11 - MIN, { what: 'the 10:59 bar in PostgreSQL' });
    const [fresh] = await pricesOf(pool, config, symbol, TUESDAY_11);
    expect(fresh).toMatchObject({ interval: '1m', quality: 1, lateSeconds: 0, late: false, confidence: 1 });
    const [stale] = await pricesOf(pool, config, symbol, TUESDAY_11 + 20 * MIN); // the 11:00 bar was complete at 11:01: 19 minutes late
    expect(stale).toMatchObject({ lateSeconds: 19 * 60, late: true });
    expect(stale?.confidence).toBeCloseTo(2 ** (-14 / 5), 12);
    // On Saturday it is days late (the rest of Tuesday's session and three more are missing): shown, with next to no confidence.
    const saturday = (await pricesOf(pool, config, symbol, SATURDAY_NOON))[0];
    expect(saturday).toMatchObject({ late: true, lateSeconds: (SATURDAY_NOON - Date.parse('2026-03-03T16:01:00.000Z')) / 1000 });
    expect(saturday?.confidence).toBeLessThan(1e-9);
    const text = formatExplanation({ target: symbol, facts: [], prices: [stale!] });
    expect(text).toContain(`price 1m, bar 2026-03-03T15:59:00.000Z: close 100.5, source synthetic, quality 1; ended 2026-03-03T16:00:00.000Z (20 min ago), ` +
      `19 min late (limit 5 min): confidence ${stale!.confidence.toFixed(3)} (stale)`);
  });

  it('Redis price:{symbol}:latest carries the bar\'s quality, for readers computing its confidence', async () => {
    const now = Math.floor(Date.now() / MIN) * MIN - MIN; // live, so its latest key is not expired yet
    await publisher.send(topics.prices, [minuteBar(other, now, { quality: 0.5 })], { source: 'test' });
    const latest = await waitFor(async () => {
      const h = await redis.hgetall(redisKeys.latest(other));
      return h.ts === new Date(now).toISOString() ? h : null;
    }, { what: 'the latest hash of the live bar' });
    expect(latest).toMatchObject({ interval: '1m', quality: '0.5', source: 'synthetic' });
  });
});
