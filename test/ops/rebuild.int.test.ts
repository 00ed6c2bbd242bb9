// Rebuild against the real stack: state built from isolated topics, then damaged in each store (a changed value, a
// missing key or relationship, a stray row), then rebuilt from the log. The store ends exactly as it was (counts and
// content checksums of the test's symbols), and a rebuild is refused, clearing nothing, while the group is live.
// Also: the group is held while the store is cleared (a member started during the clear cannot write what the clear
// erases), retention (records removed with deleteTopicRecords) is refused unless allowPartial, and the CLI asks on a
// terminal (a real pseudo-terminal via util-linux `script`) and needs --yes without one.
import { execFile, spawn } from 'node:child_process';
import { AssignerProtocol } from 'kafkajs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks } from '../../consumers/start.ts';
import type { SinkTopics } from '../../consumers/types.ts';
import { createKafka } from '../../lib/kafka.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';

import { rebuild } from '../../ops/rebuild.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, priceFeatures } from '../../topics/index.ts';
import { bar, BAR_T0, deleteTestTopics, HOUR, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';
import { openStores, type Stores } from './snapshots.ts';
import { GroupActiveError, RetentionLossError } from '../../lib/errors.ts';
import { holdGroup } from '../../ops/groups.ts';
import { startCli } from '../cli/cli-process.ts';

const run = promisify(execFile);
const prefix = randomName('test-rebuild');
// REDIS_LATEST_TTL_SECONDS: a margin of years, as price:{symbol}:latest lives from its bar's end and the fixtures' bars are months old.
const env = { KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '3', REDIS_LATEST_TTL_SECONDS: '400000000', SINK_RETRY_MAX_MS: '1000' };
const config = testConfig(env);
const logger = testLogger('rebuild-test');
const kafka = createKafka(config, logger, 'rebuild-test');

/** The partitions the redis-sink group reads here: prices and price-features, TOPIC_PARTITIONS (3) each. */
const REDIS_PARTITIONS = 2 * 3;

/** Partitions in a member's assignment as describeGroups returns it. */
const assigned = (memberAssignment: Buffer) =>
  Object.values(AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {}).reduce((n, ps) => n + ps.length, 0);

/** The real CLI on a pseudo-terminal (util-linux `script`): stdin and stderr are a TTY, as for someone at a shell. */
function startInTerminal(args: string[], env: Record<string, string>): { output(): string; type(answer: string): void; exited: Promise<number | null> } {
  const command = [process.execPath, 'bin/marketstream.js', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => chunks.push(d.toString()));
  return {
    output: () => chunks.join(''),
    type: (answer) => { child.stdin.write(`${answer}\r`); },
    exited: new Promise((resolve) => child.once('exit', (code) => { child.stdin.end(); resolve(code); })),
  };
}

describe('rebuild', () => {
  const symbols = [randomSymbol(), randomSymbol(), randomSymbol()];
  const [s0, s1, s2] = symbols as [string, string, string];
  const topics: Required<SinkTopics> = {
    prices: withName(priceUpdates, randomName('test-rebuild-prices')),
    events: withName(marketEvents, randomName('test-rebuild-events')),
    mutations: withName(graphMutations, randomName('test-rebuild-graph')),
    features: withName(priceFeatures, randomName('test-rebuild-features')),
  };
  const eventIds = [randomName('ev'), randomName('ev')];
  const scope = { symbols };
  let stores: Stores;
  let before: {
    pg: Awaited<ReturnType<Stores['postgres']>>; redis: Awaited<ReturnType<Stores['redisState']>>; neo4j: Awaited<ReturnType<Stores['neo4jState']>>;
  };
  let recordsIn: { prices: number; events: number; mutations: number };
  const snapshot = async () => ({
    pg: await stores.postgres(symbols, eventIds), redis: await stores.redisState(symbols), neo4j: await stores.neo4jState(symbols),
  });

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
      {
        id: eventIds[0]!, symbols: [s0], headline: 'Earnings beat', summary: null, source: 'test', url: 'https://example.com/a', publishedAt: now - 60_000,
        category: null, ingestTime: now,
      },
      {
        id: eventIds[1]!, symbols: [s1, s2], headline: 'Merger talks', summary: 'talks', source: 'test', url: null, publishedAt: now - 30_000,
        category: 'news', ingestTime: now,
      },
    ];
    const mutations: GraphMutation[] = [
      ...symbols.map((s, k): GraphMutation => ({
        mutationTime: now, origin: 'profile', op: { UpsertNode: { label: 'Company', key: s, properties: { name: `Test Corp ${k}`, exchange: 'TEST' } } },
      })),
      {
        mutationTime: now, origin: 'competitors',
        op: {
          UpsertRelationship: {
            type: 'COMPETES_WITH', from: { label: 'Company', key: s0 }, to: { label: 'Company', key: s1 }, properties: { source: 'test', confidence: 0.75 },
          },
        },
      },
    ];
    await publisher.send(topics.prices, prices, { source: 'test' });
    await publisher.send(topics.events, events, { source: 'test' });
    await publisher.send(topics.mutations, mutations, { source: 'test' });
    await publisher.disconnect();
    recordsIn = { prices: prices.length, events: events.length, mutations: mutations.length };

    const sinks = await startSinks({ config, logger, names: ['postgres', 'redis', 'neo4j'], topics });
    try {
      for (const [name, ts] of [
        ['postgres', [topics.prices, topics.events]], ['redis', [topics.prices]], ['neo4j', [topics.prices, topics.mutations]],
      ] as const) {
        await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), ts.map((t) => t.name))) === 0,
          { what: `${name} caught up`, timeoutMs: 60_000 });
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

  it('holdGroup: a group with a live member is not held, and that member keeps its partitions', async () => {
    const live = await startSinks({ config, logger, names: ['redis'], topics });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => (await admin.describeGroups([groupIdOf(config, 'redis')])).groups[0]?.state === 'Stable', { what: 'live redis-sink member' });
      // No idle check first: joining itself is what must refuse.
      await expect(holdGroup(kafka, admin, { groupId: groupIdOf(config, 'redis'), topics: [topics.prices.name], logger }))
        .rejects.toBeInstanceOf(GroupActiveError);
      await waitFor(async () => {
        const g = (await admin.describeGroups([groupIdOf(config, 'redis')])).groups[0];
        return g?.state === 'Stable' && g.members.length === 1 && assigned(g.members[0]!.memberAssignment) === REDIS_PARTITIONS;
      }, { what: 'the live member owning every partition again' });
    } finally {
      await admin.disconnect();
      await live.stop();
    }
  });

  it('holdGroup: a member that joins a held group gets no partition until the hold is released', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const groupId = groupIdOf(config, 'redis');
    const hold = await holdGroup(kafka, admin, { groupId, topics: [topics.prices.name], logger });
    let other: Awaited<ReturnType<typeof startSinks>> | undefined;
    try {
      other = await startSinks({ config, logger, names: ['redis'], topics });
      const otherId = await waitFor(async () => {
        const g = (await admin.describeGroups([groupId])).groups[0];
        return g?.state === 'Stable' && g.members.length === 2 ? g.members.find((m) => assigned(m.memberAssignment) === 0)?.memberId : undefined;
      }, { what: 'the second member joined with nothing assigned' });
      hold.assertHeld();
      await hold.release();
      await waitFor(async () => {
        const g = (await admin.describeGroups([groupId])).groups[0];
        return g?.state === 'Stable' && g.members.length === 1 && g.members[0]!.memberId === otherId
          && assigned(g.members[0]!.memberAssignment) === REDIS_PARTITIONS;
      }, { what: 'the second member owning every partition after the release', timeoutMs: 30_000 });
    } finally {
      await hold.release();
      await other?.stop();
      await admin.disconnect();
    }
  });

  it('the CLI refuses without a terminal unless --yes, changing nothing; with --yes it rebuilds and prints what it holds', async () => {
    await stores.redis.del(`price:${s2}:latest`, `bars:${s2}:1h`);
    const damaged = await stores.redisState(symbols);
    const cliEnv = { ...env, PRICE_UPDATES_TOPIC: topics.prices.name, PRICE_FEATURES_TOPIC: topics.features.name, LOG_LEVEL: 'error' };
    const refused = startCli(['rebuild', 'redis', '--symbols', symbols.join(',')], cliEnv);
    expect((await refused.exited).code).toBe(1);
    expect(refused.output()).toContain('there is no terminal to confirm on; pass --yes');
    expect(await stores.redisState(symbols)).toEqual(damaged);
    expect(await totalLag(kafka, groupIdOf(config, 'redis'), [topics.prices.name])).toBe(0); // offsets not rewound

    const { stdout } = await run(process.execPath, ['bin/marketstream.js', 'rebuild', 'redis', '--symbols', symbols.join(','), '--yes', '--json'],
      { env: { ...process.env, ...cliEnv } });
    const r = JSON.parse(stdout) as { completed: boolean; records: number; counts: Record<string, number> };
    expect(r.completed).toBe(true);
    expect(r.records).toBe(recordsIn.prices);
    expect(r.counts['price:* keys']! + r.counts['bars:* keys']!).toBe(before.redis.count);
    expect(await stores.redisState(symbols)).toEqual(before.redis);
  });

  it('on a terminal the CLI asks first: n changes nothing, y rebuilds', async () => {
    await stores.redis.hset(`price:${s0}:latest`, 'close', '1');
    const damaged = await stores.redisState(symbols);
    const cliEnv = { ...env, PRICE_UPDATES_TOPIC: topics.prices.name, PRICE_FEATURES_TOPIC: topics.features.name, LOG_LEVEL: 'error' };
    const args = ['rebuild', 'redis', '--symbols', symbols.join(',')];

    const no = startInTerminal(args, cliEnv);
    await waitFor(() => no.output().includes('Continue? [y/N]'), { what: 'the question', timeoutMs: 60_000 });
    const question = no.output();
    expect(question).toContain(`This clears the redis store for ${symbols.join(', ')} (`);
    expect(question).toMatch(/\(\d+ price:\* keys, \d+ bars:\* keys, \d+ features:\* keys\)/);
    expect(question).toContain(`and replays ${recordsIn.prices} records from ${topics.prices.name}, ${topics.features.name}.`);
    no.type('n');
    expect(await no.exited).toBe(1);
    expect(no.output()).toContain('rebuild cancelled: nothing was changed');
    expect(await stores.redisState(symbols)).toEqual(damaged);
    expect(await totalLag(kafka, groupIdOf(config, 'redis'), [topics.prices.name])).toBe(0);

    const yes = startInTerminal(args, cliEnv);
    await waitFor(() => yes.output().includes('Continue? [y/N]'), { what: 'the question', timeoutMs: 60_000 });
    yes.type('y');
    expect(await yes.exited).toBe(0);
    expect(yes.output()).toContain(`rebuilt redis-sink from ${topics.prices.name}, ${topics.features.name}: ${recordsIn.prices} records`);
    expect(await stores.redisState(symbols)).toEqual(before.redis);
  });
});

// The window between "the group is idle" and "the store is cleared": a member of the same group started while the
// rebuild's reset is paused must not be able to write and commit what the clear then erases.
describe('rebuild: a member that joins while the store is being cleared', () => {
  const wPrefix = randomName('test-rebuild-window');
  const wEnv = { KAFKA_GROUP_PREFIX: wPrefix, TOPIC_PARTITIONS: '3', SINK_RETRY_MAX_MS: '1000' };
  const wConfig = testConfig(wEnv);
  const symbols = [randomSymbol(), randomSymbol(), randomSymbol()];
  const topics: SinkTopics = {
    prices: withName(priceUpdates, randomName('test-rebuild-window-prices')),
    events: withName(marketEvents, randomName('test-rebuild-window-events')),
    features: withName(priceFeatures, randomName('test-rebuild-window-features')),
  };
  const groupId = groupIdOf(wConfig, 'postgres');
  const topicNames = [topics.prices!.name, topics.events!.name];
  const initial = symbols.flatMap((s, k) => Array.from({ length: 30 }, (_, i) => bar(s, i, 200 + 10 * k + i)));
  const during = symbols.flatMap((s, k) => Array.from({ length: 5 }, (_, i) => bar(s, 30 + i, 300 + 10 * k + i)));
  let stores: Stores;

  /** price_data of the test's symbols, as (symbol, event time, OHLCV) in key order. */
  const rows = async () => (await stores.pg.query<{ symbol: string; t: string; open: number; high: number; low: number; close: number; volume: number }>(
    'SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS t, open, high, low, close, volume FROM price_data ' +
      'WHERE symbol = ANY($1) ORDER BY symbol, ts', [symbols])).rows
    .map((r) => ({ symbol: r.symbol, t: Number(r.t), open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume }));
  const expected = (bars: PriceUpdate[]) => [...bars].sort((a, b) => a.symbol.localeCompare(b.symbol) || a.eventTime - b.eventTime)
    .map((b) => ({ symbol: b.symbol, t: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume }));
  const publish = async (bars: PriceUpdate[]) => {
    const publisher = createPublisher({ kafka, serde: createSerde(wConfig), logger });
    await publisher.connect();
    try { await publisher.send(topics.prices!, bars, { source: 'test' }); } finally { await publisher.disconnect(); }
  };

  beforeAll(async () => {
    stores = await openStores(wConfig);
    await ensureTopics(kafka, wConfig, Object.values(topics));
    await publish(initial);
    const live = await startSinks({ config: wConfig, logger, names: ['postgres'], topics });
    try {
      await waitFor(async () => (await totalLag(kafka, groupId, topicNames)) === 0, { what: 'postgres-sink caught up', timeoutMs: 60_000 });
    } finally {
      await live.stop();
    }
    expect(await rows()).toEqual(expected(initial));
  });

  afterAll(async () => {
    await stores?.pg.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await stores?.close();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('cannot write anything the clear erases: the store ends equal to the full log, window records included', async () => {
    await stores.pg.query('UPDATE price_data SET close = close + 1 WHERE symbol = $1', [symbols[0]]);
    let other: Awaited<ReturnType<typeof startSinks>> | undefined;
    let membersDuringWindow = 0;
    try {
      const r = await rebuild({
        config: wConfig, logger, sink: 'postgres', topics, scope: { symbols }, pollMs: 200,
        beforeClear: async () => {
          // Another member of the same group starts while the reset waits, and new records arrive.
          other = await startSinks({ config: wConfig, logger, names: ['postgres'], topics });
          await publish(during);
          const admin = kafka.admin();
          await admin.connect();
          try {
            membersDuringWindow = (await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0;
            // Give it every chance to consume and commit: until the group has committed everything, or 6 s.
            await waitFor(async () => (await totalLag(admin, groupId, topicNames)) === 0, { what: 'the other member catching up', timeoutMs: 6000 })
              .catch(() => {});
          } finally {
            await admin.disconnect();
          }
        },
      });
      expect(r.completed).toBe(true);
      expect(membersDuringWindow).toBeGreaterThanOrEqual(1);
      // The other member is still running: it (or the rebuild's members, gone now) consumes what arrived during the window.
      await waitFor(async () => (await totalLag(kafka, groupId, topicNames)) === 0, { what: 'the group caught up after the rebuild', timeoutMs: 60_000 });
    } finally {
      await other?.stop();
    }
    const after = await rows();
    expect(after.length).toBe(initial.length + during.length);
    expect(after).toEqual(expected([...initial, ...during]));
  });
});

// Retention: the first records of the prices topic are removed (admin.deleteTopicRecords, a real truncation of the
// Kafka log) while PostgreSQL and Redis still hold what they made. A rebuild would not bring that back: it refuses,
// saying how much and which dates, and changes nothing; with allowPartial (--allow-partial) it goes on.
describe('rebuild: records removed from the log by retention', () => {
  const rPrefix = randomName('test-rebuild-retention');
  const rEnv = { KAFKA_GROUP_PREFIX: rPrefix, TOPIC_PARTITIONS: '1', REDIS_LATEST_TTL_SECONDS: '400000000', SINK_RETRY_MAX_MS: '1000' };
  const rConfig = testConfig(rEnv);
  const [gone, cut, kept] = [randomSymbol(), randomSymbol(), randomSymbol()] as [string, string, string];
  const symbols = [gone, cut, kept];
  const topics: SinkTopics = {
    prices: withName(priceUpdates, randomName('test-rebuild-retention-prices')),
    events: withName(marketEvents, randomName('test-rebuild-retention-events')),
    mutations: withName(graphMutations, randomName('test-rebuild-retention-graph')),
    features: withName(priceFeatures, randomName('test-rebuild-retention-features')),
  };
  // Graph mutations: the first (about `gone`) is removed too.
  const mutationTimes = [Date.now() - 60_000, Date.now() - 30_000];
  const mutations: GraphMutation[] = [gone, kept].map((s, i) => ({
    mutationTime: mutationTimes[i]!, origin: 'profile', op: { UpsertNode: { label: 'Company', key: s, properties: { name: `Retention Corp ${i}` } } },
  }));
  // One partition, in this order: all 5 bars of `gone`, then 20 of `cut`, then 20 of `kept`. Removing the first 15
  // records takes every bar of `gone` and the first 10 of `cut`.
  const bars = [
    ...Array.from({ length: 5 }, (_, i) => bar(gone, i, 50 + i)),
    ...Array.from({ length: 20 }, (_, i) => bar(cut, i, 100 + i)),
    ...Array.from({ length: 20 }, (_, i) => bar(kept, i, 200 + i)),
  ];
  const removed = 15;
  let stores: Stores;
  const pgCount = async () =>
    Number((await stores.pg.query<{ n: string }>('SELECT count(*) AS n FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0]!.n);

  beforeAll(async () => {
    stores = await openStores(rConfig);
    await ensureTopics(kafka, rConfig, Object.values(topics));
    const publisher = createPublisher({ kafka, serde: createSerde(rConfig), logger });
    await publisher.connect();
    try {
      await publisher.send(topics.prices!, bars, { source: 'test' });
      await publisher.send(topics.mutations!, mutations, { source: 'test' });
    } finally {
      await publisher.disconnect();
    }
    const live = await startSinks({ config: rConfig, logger, names: ['postgres', 'redis', 'neo4j'], topics });
    try {
      for (const [name, ts] of [['postgres', [topics.prices!]], ['redis', [topics.prices!]], ['neo4j', [topics.prices!, topics.mutations!]]] as const) {
        await waitFor(async () => (await totalLag(kafka, groupIdOf(rConfig, name), ts.map((t) => t.name))) === 0,
          { what: `${name} caught up`, timeoutMs: 60_000 });
      }
    } finally {
      await live.stop();
    }
    expect(await pgCount()).toBe(45);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [topics.prices!.name] }); // deleteTopicRecords needs the topic's leaders known
      await admin.deleteTopicRecords({ topic: topics.prices!.name, partitions: [{ partition: 0, offset: String(removed) }] });
      await admin.fetchTopicMetadata({ topics: [topics.mutations!.name] });
      await admin.deleteTopicRecords({ topic: topics.mutations!.name, partitions: [{ partition: 0, offset: '1' }] });
      expect((await admin.fetchTopicOffsets(topics.prices!.name))[0]!.low).toBe(String(removed));
    } finally {
      await admin.disconnect();
    }
  });

  afterAll(async () => {
    await stores?.pg.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await stores?.neo4j.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols });
    for (const s of symbols) await stores?.redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`);
    await stores?.close();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('postgres: refuses with how many rows and which dates would not come back, changing nothing; allowPartial goes on', async () => {
    const groupId = groupIdOf(rConfig, 'postgres');
    const refused = await rebuild({ config: rConfig, logger, sink: 'postgres', topics, scope: { symbols }, pollMs: 200 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RetentionLossError);
    const err = refused as RetentionLossError;
    // gone: all 5 rows (bars 0–4); cut: the 10 rows older than its oldest bar left (bars 0–9).
    expect(err.losses)
      .toEqual([expect.objectContaining({ what: 'price_data rows', count: 15, from: BAR_T0, to: BAR_T0 + 9 * HOUR, topic: topics.prices!.name })]);
    expect(err.message).toContain('15 price_data rows of 2 symbol(s)');
    expect(err.message)
      .toContain(`${new Date(BAR_T0).toISOString().replace('.000Z', 'Z')} to ${new Date(BAR_T0 + 9 * HOUR).toISOString().replace('.000Z', 'Z')}`);
    expect(err.message).toContain(`${topics.prices!.name} starts at offset 15 on partition 0 (15 record(s) removed by retention)`);
    expect(err.message).toContain('--allow-partial');
    expect(await pgCount()).toBe(45);
    expect(await totalLag(kafka, groupId, [topics.prices!.name, topics.events!.name])).toBe(0); // offsets not rewound

    const r = await rebuild({ config: rConfig, logger, sink: 'postgres', topics, scope: { symbols }, allowPartial: true, pollMs: 200 });
    expect(r.completed).toBe(true);
    expect(r.records).toBe(bars.length - removed);
    expect(r.losses.map((l) => l.count)).toEqual([15]);
    expect(r.counts['price_data rows']).toBe(30);
    const { rows } = await stores.pg.query<{ symbol: string; n: string; first: Date }>(
      'SELECT symbol, count(*) AS n, min(ts) AS first FROM price_data WHERE symbol = ANY($1) GROUP BY symbol ORDER BY symbol', [symbols]);
    expect(Object.fromEntries(rows.map((x) => [x.symbol, [Number(x.n), x.first.getTime()]])))
      .toEqual({ [cut]: [10, BAR_T0 + 10 * HOUR], [kept]: [20, BAR_T0] });
  });

  it('redis, through the CLI: refused with the bars and keys that would not come back; --allow-partial goes on', async () => {
    const cliEnv = { ...rEnv, PRICE_UPDATES_TOPIC: topics.prices!.name, PRICE_FEATURES_TOPIC: topics.features!.name, LOG_LEVEL: 'error' };
    const args = ['bin/marketstream.js', 'rebuild', 'redis', '--symbols', symbols.join(','), '--yes'];
    const beforeState = await stores.redisState(symbols);
    const refused = await run(process.execPath, args, { env: { ...process.env, ...cliEnv } }).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code: number }).code).toBe(1);
    const stderr = (refused as { stderr: string }).stderr;
    expect(stderr).toContain('rebuild refused: retention has removed records whose data the redis store still holds');
    expect(stderr).toMatch(/15 bars in bars:\* keys of 2 symbol\(s\)/);
    expect(stderr).toContain('2 price:* keys (latest price and watermark) of 1 symbol(s) with no bar left in the log, ' +
      `at ${new Date(BAR_T0 + 4 * HOUR).toISOString().replace('.000Z', 'Z')}`);
    expect(stderr).toContain('--allow-partial');
    expect(await stores.redisState(symbols)).toEqual(beforeState);

    const { stdout } = await run(process.execPath, [...args, '--allow-partial', '--json'], { env: { ...process.env, ...cliEnv } });
    const r = JSON.parse(stdout) as { completed: boolean; records: number; losses: { what: string; count: number }[] };
    expect(r.completed).toBe(true);
    expect(r.records).toBe(bars.length - removed);
    expect(r.losses.map((l) => [l.what, l.count])).toEqual([['bars in bars:* keys', 15], ['price:* keys', 2]]);
    expect(await stores.redis.exists(`price:${gone}:latest`, `bars:${gone}:1h`)).toBe(0);
    expect(await stores.redis.zcard(`bars:${cut}:1h`)).toBe(10);
    expect(await stores.redis.zcard(`bars:${kept}:1h`)).toBe(20);
  });

  it('neo4j: refuses when graph mutations are gone (earliest-offset check) and for last prices with no bar left; allowPartial goes on', async () => {
    const refused = await rebuild({ config: rConfig, logger, sink: 'neo4j', topics, scope: { symbols }, pollMs: 200 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RetentionLossError);
    const err = refused as RetentionLossError;
    expect(err.losses).toEqual([
      expect.objectContaining({ what: 'nodes and relationships', count: 3, to: mutationTimes[1], topic: topics.mutations!.name }),
      expect.objectContaining({ what: 'Company last_price values', count: 1, from: BAR_T0 + 4 * HOUR, to: BAR_T0 + 4 * HOUR, topic: topics.prices!.name }),
    ]);
    expect(err.message).toContain('3 nodes and relationships may come back only in part or not at all: ' +
      '1 graph mutation(s) that built them are gone from the log');
    expect((await stores.neo4jState(symbols)).count).toBe(3);

    const r = await rebuild({ config: rConfig, logger, sink: 'neo4j', topics, scope: { symbols }, allowPartial: true, pollMs: 200 });
    expect(r.completed).toBe(true);
    expect(r.records).toBe(bars.length - removed + 1);
    const { records } = await stores.neo4j.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols RETURN c.symbol AS s, c.name AS name ORDER BY s',
      { symbols });
    expect(Object.fromEntries(records.map((x) => [x.get('s'), x.get('name')]))).toEqual({ [cut]: null, [kept]: 'Retention Corp 1' });
  });
});

// README: "An interrupted rebuild is finished by the next `marketstream consume <store>`". A real `rebuild redis` is
// stopped with Ctrl-C once it has rewound the group and cleared the store (its fetches kept small, so its replay is
// still under way); it exits 1 saying so. A plain `consume redis` then catches the group up, and Redis ends exactly as
// the log makes it, the damage done before the rebuild included.
describe('rebuild: interrupted, then finished by the next consume', () => {
  const iEnv = {
    KAFKA_GROUP_PREFIX: randomName('test-rebuild-resume'), TOPIC_PARTITIONS: '3', REDIS_LATEST_TTL_SECONDS: '400000000', SINK_RETRY_MAX_MS: '1000',
  };
  const iConfig = testConfig(iEnv);
  const symbols = [randomSymbol(), randomSymbol(), randomSymbol()];
  const prices = withName(priceUpdates, randomName('test-rebuild-resume-prices'));
  const cliEnv = { ...iEnv, PRICE_UPDATES_TOPIC: prices.name, LOG_LEVEL: 'info' };
  const groupId = groupIdOf(iConfig, 'redis');
  let stores: Stores;
  let before: Awaited<ReturnType<Stores['redisState']>>;

  beforeAll(async () => {
    stores = await openStores(iConfig);
    await ensureTopics(kafka, iConfig, [prices]);
    const publisher = createPublisher({ kafka, serde: createSerde(iConfig), logger });
    await publisher.connect();
    try {
      await publisher.send(prices, symbols.flatMap((s, k) => Array.from({ length: 200 }, (_, i) => bar(s, i, 100 + 10 * k + i))), { source: 'test' });
    } finally {
      await publisher.disconnect();
    }
    const live = await startSinks({ config: iConfig, logger, names: ['redis'], topics: { prices } });
    try {
      await waitFor(async () => (await totalLag(kafka, groupId, [prices.name])) === 0, { what: 'redis-sink caught up', timeoutMs: 60_000 });
    } finally {
      await live.stop();
    }
    before = await stores.redisState(symbols);
    expect(before.count).toBe(3 * symbols.length); // latest, watermark and bars per symbol
  });

  afterAll(async () => {
    for (const s of symbols) await stores?.redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`);
    await stores?.close();
    await deleteTestTopics(kafka, [prices.name, prices.dlq]);
  });

  it('Ctrl-C during the replay exits 1 keeping the progress; `consume redis` finishes it', async () => {
    await stores.redis.hset(`price:${symbols[0]}:latest`, 'close', '1');
    // 1 KB fetches: a few records per batch, so the replay cannot be over before the signal lands.
    const rebuildCli = startCli(['rebuild', 'redis', '--symbols', symbols.join(','), '--yes'],
      { ...cliEnv, SINK_FETCH_MAX_BYTES: '1024', SINK_FETCH_PARTITION_MAX_BYTES: '1024' });
    await waitFor(() => rebuildCli.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('offsets rewound to earliest')),
      { what: 'the rebuild rewinding and clearing', timeoutMs: 60_000, intervalMs: 20 });
    rebuildCli.child.kill('SIGINT');
    expect((await rebuildCli.closed).code, rebuildCli.output().slice(-2000)).toBe(1);
    expect(rebuildCli.stdout()).toContain('stopped before catching up: redis-sink');
    expect(rebuildCli.stdout()).toContain(`group ${groupId} keeps its progress; \`marketstream consume redis\` finishes the replay`);
    const lag = await totalLag(kafka, groupId, [prices.name]);
    expect(lag).toBeGreaterThan(0); // interrupted: records of the replay are still to be read…
    expect(await stores.redisState(symbols)).not.toEqual(before); // …and the store does not hold what they make

    const consumeCli = startCli(['consume', 'redis'], cliEnv);
    await waitFor(async () => (await totalLag(kafka, groupId, [prices.name])) === 0, { what: 'consume redis finishing the replay', timeoutMs: 60_000 });
    consumeCli.child.kill('SIGTERM');
    expect(await consumeCli.exited).toEqual({ code: 0, signal: null });
    expect(await stores.redisState(symbols)).toEqual(before);
  });
});
