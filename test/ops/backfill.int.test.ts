// Backfill against the real stack: historical bars land in PostgreSQL once however often the backfill runs (once through
// the function, once through the CLI), older backfilled bars never move Redis's or Neo4j's latest price backwards, and a
// file's bad lines are dead-lettered while its good bars are published.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { SinkTopics } from '../../consumers/types.ts';
import { US_CALENDAR } from '../../lib/calendar.ts';
import { createKafka } from '../../lib/kafka.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { backfill, createHistorySource } from '../../ops/backfill.ts';
import { backfillWindow } from '../../ops/backfill-range.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, priceFeatures } from '../../topics/index.ts';
import { consumeMessages, deleteTestTopics, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';
import { openStores, type Stores } from './snapshots.ts';

const run = promisify(execFile);
const env = { KAFKA_GROUP_PREFIX: randomName('test-backfill'), TOPIC_PARTITIONS: '3', REDIS_LATEST_TTL_SECONDS: '400000000' };
const config = testConfig(env);
const logger = testLogger('backfill-test');
const kafka = createKafka(config, logger, 'backfill-test');
const DAYS = 30;

describe('backfill', () => {
  const symbols = [randomSymbol(), randomSymbol()];
  const topics: Required<SinkTopics> = {
    prices: withName(priceUpdates, randomName('test-backfill-prices')),
    events: withName(marketEvents, randomName('test-backfill-events')),
    mutations: withName(graphMutations, randomName('test-backfill-graph')),
    features: withName(priceFeatures, randomName('test-backfill-features')),
  };
  let stores: Stores;
  let publisher: Publisher;
  let sinks: RunningSinks;
  let tmp: string;
  const live = new Map<string, number>();
  const fileSymbol = randomSymbol();

  const rows = async (syms: string[]) => (await stores.pg.query(
    `SELECT symbol, interval, extract(epoch FROM ts) * 1000 AS t, open, high, low, close, volume, source FROM price_data
     WHERE symbol = ANY($1) ORDER BY symbol, interval, ts`, [syms])).rows.map((r) => ({ ...r, t: Number(r.t) }));
  const caughtUp = async () => {
    for (const name of ['postgres', 'redis', 'neo4j'] as const) {
      await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), [topics.prices.name])) === 0, { what: `${name} caught up`, timeoutMs: 60_000 });
    }
  };

  beforeAll(async () => {
    stores = await openStores(config);
    tmp = await mkdtemp(path.join(tmpdir(), 'backfill-'));
    await ensureTopics(kafka, config, Object.values(topics));
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    sinks = await startSinks({ config, logger, names: ['postgres', 'redis', 'neo4j'], topics });
    // A live bar first: the newest price each store shows.
    const now = Date.now();
    const bars = symbols.map((s, k) => {
      const close = 500 + k;
      live.set(s, close);
      return {
        symbol: s, interval: '1m', eventTime: Math.floor(now / 60_000) * 60_000 - 60_000, open: close, high: close + 1, low: close - 1, close, volume: 10,
        source: 'synthetic' as const, ingestTime: now, quality: 1,
      };
    });
    await publisher.send(topics.prices, bars, { source: 'test' });
    await caughtUp();
    for (const s of symbols) expect(await stores.latest(s)).toEqual({ redis: live.get(s), neo4j: live.get(s) });
  });

  afterAll(async () => {
    await sinks?.stop();
    await publisher?.disconnect();
    await stores?.pg.query('DELETE FROM price_data WHERE symbol = ANY($1)', [[...symbols, fileSymbol]]);
    await stores?.neo4j.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols: [...symbols, fileSymbol] });
    for (const s of [...symbols, fileSymbol]) await stores?.redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1d`, `bars:${s}:1m`);
    await stores?.close();
    await rm(tmp, { recursive: true, force: true });
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('twice (function, then CLI) leaves one row per bar in PostgreSQL, and never moves the latest price back', async () => {
    const window = backfillWindow({ days: DAYS }, { now: Date.now(), interval: '1d', source: 'synthetic' });
    const source = createHistorySource('synthetic', { config, logger });
    const first = await backfill({ config, logger, publisher, source, symbols, ...window, interval: '1d', parallel: 2, topic: topics.prices });
    expect(first.failed).toBe(0);
    expect(first.symbolsDone).toBe(2);
    await caughtUp();

    // What the backfill must have stored: the source's completed daily bars of the window, as backfill.
    const synthetic = createSyntheticSource({ seed: config.SYNTHETIC_SEED });
    const expected = (await Promise.all(symbols.map((s) => synthetic.history(s, { ...window, interval: '1d' })))).flat()
      .map((b) => ({
        symbol: b.symbol, interval: '1d', t: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'backfill',
      }))
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.t - b.t);
    // One bar per session of the window (about 21 in 30 days; today's once it closed), none on a weekend or holiday.
    const sessions = US_CALENDAR.bars('1d', window.from, window.to).map((b) => b.eventTime);
    expect(expected.length).toBeGreaterThanOrEqual(2 * (sessions.length - 1));
    expect(expected.every((b) => sessions.includes(b.t))).toBe(true);
    expect(first.published).toBe(expected.length);
    const daily = async () => (await rows(symbols)).filter((r) => r.interval === '1d');
    expect(await daily()).toEqual(expected);

    const cli = await run(process.execPath, ['bin/marketstream.js', 'backfill', '--symbols', symbols.join(','), '--days', String(DAYS), '--interval', '1d',
      '--source', 'synthetic', '--parallel', '2', '--json'], { env: { ...process.env, ...env, PRICE_UPDATES_TOPIC: topics.prices.name, LOG_LEVEL: 'error' } });
    const second = JSON.parse(cli.stdout) as { published: number; failed: number };
    expect(second.failed).toBe(0);
    expect(second.published).toBe(expected.length);
    await caughtUp();

    // The topic holds every bar twice; PostgreSQL holds each once, with the same content, beside the live bar.
    const all = await consumeMessages(kafka, topics.prices.name, 2 * expected.length + symbols.length);
    expect(all.filter((m) => m.headers.source?.toString() === 'backfill')).toHaveLength(2 * expected.length);
    expect(await daily()).toEqual(expected);
    expect((await rows(symbols)).length).toBe(expected.length + symbols.length);

    // The backfilled bars are older than the live one: Redis and Neo4j still show the live price.
    for (const s of symbols) expect(await stores.latest(s)).toEqual({ redis: live.get(s), neo4j: live.get(s) });
  });

  it('from a file: publishes its bars as backfill and dead-letters the lines it cannot read', async () => {
    const file = path.join(tmp, 'bars.csv');
    await writeFile(file, [
      'symbol,interval,ts,open,high,low,close,volume',
      `${fileSymbol},1d,2025-03-03,10,12,9,11,1000`,
      `${fileSymbol},1d,2025-03-04,11,13,10,12,1100`,
      `${fileSymbol},1d,2025-03-05,12,11,10,12,1200`, // high below open/close: invalid
      `${fileSymbol},1d,not-a-date,1,1,1,1,1`,
    ].join('\n'));
    const source = createHistorySource('file', { config, logger, file });
    const r = await backfill({
      config, logger, publisher, source, symbols: [fileSymbol], from: Date.UTC(2025, 0, 1), to: Date.UTC(2025, 11, 31), interval: '1d', parallel: 1,
      topic: topics.prices,
    });
    expect(r).toMatchObject({ published: 2, invalid: 2, failed: 0 });
    await caughtUp();
    expect((await rows([fileSymbol])).map((x) => [x.t, x.close, x.source]))
      .toEqual([[Date.UTC(2025, 2, 3), 11, 'backfill'], [Date.UTC(2025, 2, 4), 12, 'backfill']]);
    const dlq = await consumeMessages(kafka, topics.prices.dlq, 2);
    const reasons = dlq.map((m) => m.headers['error-message']?.toString());
    expect(reasons).toHaveLength(2);
    expect(reasons).toEqual(expect.arrayContaining([expect.stringMatching(/high 11 is below max/), expect.stringMatching(/line 5: ts "not-a-date"/)]));
  });
});
