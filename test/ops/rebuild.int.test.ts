// Rebuild against the real stack: state built from isolated topics, then damaged in each store (a changed value, a
// missing key or relationship, a stray row), then rebuilt from the log. The store ends exactly as it was (counts and
// content checksums of the test's symbols), and a rebuild is refused, clearing nothing, while the group is live.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/registry.ts';
import { startSinks } from '../../consumers/start.ts';
import type { SinkTopics } from '../../consumers/types.ts';
import { createKafka } from '../../lib/kafka.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';

import { rebuild } from '../../ops/rebuild.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { bar, randomSymbol } from '../consumers/sink-contract.ts';
import { deleteTestTopics, randomName, testConfig, testLogger, waitFor } from '../helpers/index.ts';
import { openStores, type Stores } from './snapshots.ts';
import { GroupActiveError } from '../../lib/errors.ts';

const run = promisify(execFile);
const prefix = randomName('test-rebuild');
const env = { KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '3', REDIS_LATEST_TTL_SECONDS: '3600', SINK_RETRY_MAX_MS: '1000' };
const config = testConfig(env);
const logger = testLogger('rebuild-test');
const kafka = createKafka(config, logger, 'rebuild-test');

describe('rebuild', () => {
  const symbols = [randomSymbol(), randomSymbol(), randomSymbol()];
  const [s0, s1, s2] = symbols as [string, string, string];
  const topics: Required<SinkTopics> = {
    prices: withName(priceUpdates, randomName('test-rebuild-prices')),
    events: withName(marketEvents, randomName('test-rebuild-events')),
    mutations: withName(graphMutations, randomName('test-rebuild-graph')),
  };
  const eventIds = [randomName('ev'), randomName('ev')];
  const scope = { symbols };
  let stores: Stores;
  let before: { pg: Awaited<ReturnType<Stores['postgres']>>; redis: Awaited<ReturnType<Stores['redisState']>>; neo4j: Awaited<ReturnType<Stores['neo4jState']>> };
  let recordsIn: { prices: number; events: number; mutations: number };
  const snapshot = async () => ({ pg: await stores.postgres(symbols, eventIds), redis: await stores.redisState(symbols), neo4j: await stores.neo4jState(symbols) });

  beforeAll(async () => {
    stores = await openStores(config);
    await ensureTopics(kafka, config, Object.values(topics));
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    // Prices with the cases a rebuild must reproduce: a late correction of an old bar, and a redelivered duplicate.
    const prices: PriceUpdate[] = [
      ...symbols.flatMap((s, k) => Array.from({ length: 40 }, (_, i) => bar(s, i, 100 + 10 * k + i))),
      bar(s0, 5, 999), bar(s1, 10, 110),
    ];
    const now = Date.now();
    const events: MarketEvent[] = [
      { id: eventIds[0]!, symbols: [s0], headline: 'Earnings beat', summary: null, source: 'test', url: 'https://example.com/a', publishedAt: now - 60_000, category: null, ingestTime: now },
      { id: eventIds[1]!, symbols: [s1, s2], headline: 'Merger talks', summary: 'talks', source: 'test', url: null, publishedAt: now - 30_000, category: 'news', ingestTime: now },
    ];
    const mutations: GraphMutation[] = [
      ...symbols.map((s, k): GraphMutation => ({ mutationTime: now, origin: 'profile', op: { UpsertNode: { label: 'Company', key: s, properties: { name: `Test Corp ${k}`, exchange: 'TEST' } } } })),
      { mutationTime: now, origin: 'competitors', op: { UpsertRelationship: { type: 'COMPETES_WITH', from: { label: 'Company', key: s0 }, to: { label: 'Company', key: s1 }, properties: { source: 'test', confidence: 0.75 } } } },
    ];
    await publisher.send(topics.prices, prices, { source: 'test' });
    await publisher.send(topics.events, events, { source: 'test' });
    await publisher.send(topics.mutations, mutations, { source: 'test' });
    await publisher.disconnect();
    recordsIn = { prices: prices.length, events: events.length, mutations: mutations.length };

    const sinks = await startSinks({ config, logger, names: ['postgres', 'redis', 'neo4j'], topics });
    try {
      for (const [name, ts] of [['postgres', [topics.prices, topics.events]], ['redis', [topics.prices]], ['neo4j', [topics.prices, topics.mutations]]] as const) {
        await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), ts.map((t) => t.name))) === 0, { what: `${name} caught up`, timeoutMs: 60_000 });
      }
    } finally {
      await sinks.stop();
    }
    before = await snapshot();
    // The state is what the log says, with every kind of data present.
    expect(before.pg.prices.count).toBe(120);
    expect(before.pg.events.count).toBe(2);
    expect(before.redis.count).toBeGreaterThanOrEqual(9); // latest, watermark and bars per symbol
    expect(before.neo4j.count).toBe(3);
    expect(JSON.stringify(before.neo4j.detail)).toContain(`COMPETES_WITH>${s1}`);
  });

  afterAll(async () => {
    await stores?.pg.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await stores?.pg.query('DELETE FROM market_events WHERE id = ANY($1)', [eventIds]);
    await stores?.neo4j.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols });
    for (const s of symbols) await stores?.redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`);
    await stores?.close();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('postgres: a damaged table is rebuilt from the log to exactly the same rows', async () => {
    await stores.pg.query(`UPDATE price_data SET close = close + 1 WHERE symbol = $1 AND ts = (SELECT min(ts) FROM price_data WHERE symbol = $1)`, [s0]);
    await stores.pg.query(`INSERT INTO price_data (symbol, interval, ts, open, high, low, close, volume, source, ingested_at)
      VALUES ($1, '1h', '2020-01-01', 1, 1, 1, 1, 1, 'file', now())`, [s1]);
    await stores.pg.query('DELETE FROM market_events WHERE id = $1', [eventIds[1]]);
    expect((await stores.postgres(symbols, eventIds)).prices).not.toEqual(before.pg.prices);

    const progress: number[] = [];
    const r = await rebuild({ config, logger, sink: 'postgres', topics, scope, onProgress: (p) => progress.push(p.done), pollMs: 200 });
    expect(r.completed).toBe(true);
    expect(r.groupId).toBe(`${prefix}.postgres-sink`);
    expect(r.records).toBe(recordsIn.prices + recordsIn.events);
    expect(r.rewound.every((c) => c.after === c.earliest)).toBe(true);
    expect(r.counts['price_data rows']).toBe(120);
    expect(progress.at(-1)).toBe(r.records);
    expect(await stores.postgres(symbols, eventIds)).toEqual(before.pg);
  });

  it('redis: changed, missing and stray keys are rebuilt to exactly the same content', async () => {
    await stores.redis.hset(`price:${s0}:latest`, 'close', '1');
    await stores.redis.del(`bars:${s1}:1h`);
    await stores.redis.set(`price:${s2}:stray`, 'x');
    expect((await stores.redisState(symbols)).checksum).not.toBe(before.redis.checksum);

    const r = await rebuild({ config, logger, sink: 'redis', topics, scope, pollMs: 200 });
    expect(r.completed).toBe(true);
    expect(r.records).toBe(recordsIn.prices);
    expect(r.counts['price:* keys']! + r.counts['bars:* keys']!).toBe(before.redis.count);
    expect(await stores.redisState(symbols)).toEqual(before.redis);
  });

  it('neo4j: changed properties and a lost relationship are rebuilt from prices and graph mutations', async () => {
    await stores.neo4j.executeQuery('MATCH (c:Company {symbol: $s}) SET c.last_price = 1, c.name = "wrong"', { s: s0 });
    await stores.neo4j.executeQuery('MATCH (:Company {symbol: $s})-[r:COMPETES_WITH]-() DELETE r', { s: s0 });
    expect((await stores.neo4jState(symbols)).checksum).not.toBe(before.neo4j.checksum);

    const r = await rebuild({ config, logger, sink: 'neo4j', topics, scope, pollMs: 200 });
    expect(r.completed).toBe(true);
    expect(r.records).toBe(recordsIn.prices + recordsIn.mutations);
    expect(r.counts['Company/Stock nodes']).toBe(3);
    expect(await stores.neo4jState(symbols)).toEqual(before.neo4j);
  });

  it('is refused while the group has live members, and clears nothing', async () => {
    const live = await startSinks({ config, logger, names: ['redis'], topics });
    try {
      await waitFor(async () => {
        const admin = kafka.admin();
        await admin.connect();
        try { return (await admin.describeGroups([groupIdOf(config, 'redis')])).groups[0]?.state === 'Stable'; } finally { await admin.disconnect(); }
      }, { what: 'live redis-sink member' });
      await expect(rebuild({ config, logger, sink: 'redis', topics, scope })).rejects.toBeInstanceOf(GroupActiveError);
      expect(await stores.redisState(symbols)).toEqual(before.redis);
    } finally {
      await live.stop();
    }
  });

  it('the CLI rebuilds one store for some symbols and prints what it holds', async () => {
    await stores.redis.del(`price:${s2}:latest`, `bars:${s2}:1h`);
    const { stdout } = await run(process.execPath, ['bin/marketstream.js', 'rebuild', 'redis', '--symbols', symbols.join(','), '--json'], {
      env: { ...process.env, ...env, PRICE_UPDATES_TOPIC: topics.prices.name, LOG_LEVEL: 'error' },
    });
    const r = JSON.parse(stdout) as { completed: boolean; records: number; counts: Record<string, number> };
    expect(r.completed).toBe(true);
    expect(r.records).toBe(recordsIn.prices);
    expect(r.counts['price:* keys']! + r.counts['bars:* keys']!).toBe(before.redis.count);
    expect(await stores.redisState(symbols)).toEqual(before.redis);
  });
});
