// The graph producer (offline profiles; Claude competitors against a local Messages API server) and the correlation
// analyzer (synthetic daily bars of random symbols written to the real price_data), publishing to an isolated
// graph-mutations topic that the real neo4j-sink applies: the graph then holds what the fixtures imply.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { US_CALENDAR } from '../../lib/calendar.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import { createCorrelationAnalyzer } from '../../producers/correlation-analyzer.ts';
import { readDailyCloses } from '../../producers/correlation/daily-closes.ts';
import { createGraphProducer } from '../../producers/graph-producer.ts';
import { createCompetitorFinder } from '../../producers/graph/competitor-finder.ts';
import { COMPETITORS_TOOL_NAME } from '../../producers/graph/claude-competitors.ts';
import { createFileProfileSource, type ProfileSource } from '../../producers/graph/profiles.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import type { GraphMutation, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { randomName, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';

const RUN = `Q${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
const [A, B, C, D, E, F, G, H] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'].map((s) => `${RUN}${s}`) as
  [string, string, string, string, string, string, string, string];
const TECH = `Technology ${RUN}`, AUTO = `Automotive ${RUN}`;
const CHIPS = `Semiconductors ${RUN}`, SOFTWARE = `Software ${RUN}`, CARS = `Auto Manufacturers ${RUN}`;
const PROFILES = [
  { symbol: A, name: 'Alpha Chips Inc.', sector: TECH, industry: CHIPS, exchange: 'NasdaqGS' },
  { symbol: B, name: 'Beta Semiconductor Corp.', sector: TECH, industry: CHIPS, exchange: 'NYSE' },
  { symbol: C, name: 'Gamma Software Ltd.', sector: TECH, industry: SOFTWARE, exchange: 'NasdaqGS' },
  { symbol: D, name: 'Delta Motors', sector: AUTO, industry: CARS, exchange: 'NYSE' },
  { symbol: F, name: 'Foxtrot Devices', sector: TECH, industry: CHIPS, exchange: 'NasdaqGM' }, // a peer, not followed
];
const FOLLOWED = [A, B, C, D];
const DAY = 86_400_000;
const DAY0 = Date.UTC(2026, 0, 5);

describe('graph producer and correlation analyzer → neo4j-sink', () => {
  const logger = testLogger('graph-producer-test');
  const kafka = testKafka();
  let config: Config;
  let topic: TopicDef<GraphMutation>;
  let publisher: Publisher;
  let sinks: RunningSinks;
  let driver: Driver;
  let pool: Pool;
  let profilesFile: string;
  let fake: FakeAnthropic;

  const settle = () => waitFor(async () => (await totalLag(kafka, groupIdOf(config, 'neo4j'), [topic.name])) === 0,
    { what: 'the neo4j sink to catch up', timeoutMs: 60_000 });
  const rows = async (cypher: string) => (await driver.executeQuery(cypher, { run: RUN })).records.map((r) => r.toObject());

  /** Synthetic bars of the random symbols, with A, B, C (and G, H) sharing the tech factor and D alone in auto. */
  // same-sector r ≈ 0.94, others ≈ 0.3
  const synthetic = createSyntheticSource({ seed: 11, sectorLoading: 0.8, sectors: { tech: [A, B, C, G, H], auto: [D] } });
  async function insertBars(bars: PriceUpdate[]) {
    await pool.query(`INSERT INTO price_data (symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at)
      SELECT s, i, to_timestamp(t / 1000.0), o, h, l, c, v, src, 1, now()
      FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::text[])
        AS x(s, i, t, o, h, l, c, v, src)
      ON CONFLICT DO NOTHING`, [bars.map((b) => b.symbol), bars.map((b) => b.interval), bars.map((b) => b.eventTime), bars.map((b) => b.open),
      bars.map((b) => b.high), bars.map((b) => b.low), bars.map((b) => b.close), bars.map((b) => b.volume), bars.map((b) => b.source)]);
  }

  beforeAll(async () => {
    config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test'), ANTHROPIC_API_KEY: '' });
    topic = withName(graphMutations, randomName('test-graph'));
    await ensureTopics(kafka, config, [topic]);
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    driver = createNeo4jDriver(config);
    pool = createPgPool(config, { max: 2 });
    await migrate(pool);
    const dir = mkdtempSync(path.join(tmpdir(), 'profiles-'));
    profilesFile = path.join(dir, 'profiles.json');
    writeFileSync(profilesFile, JSON.stringify({ description: 'test fixture', profiles: PROFILES }));
    sinks = await startSinks({ config, logger, names: ['neo4j'], topics: { prices: withName(priceUpdates, randomName('test-prices')), mutations: topic } });
    fake = await startFakeAnthropic();
  });

  afterAll(async () => {
    await sinks?.stop();
    await publisher?.disconnect();
    await fake?.close();
    await pool?.query('DELETE FROM price_data WHERE symbol LIKE $1', [`${RUN}%`]).catch(() => {});
    await pool?.end();
    await driver?.executeQuery('MATCH (n) WHERE n.symbol STARTS WITH $run OR n.name ENDS WITH $run OR (n:GraphTombstone AND n.key CONTAINS $run) ' +
      'DETACH DELETE n', { run: RUN }).catch(() => {});
    await driver?.close();
  });

  it('offline: profiles become Company, Sector and Industry nodes with IN_SECTOR/IN_INDUSTRY, peers become COMPETES_WITH (profile-industry)', async () => {
    const producer = createGraphProducer({
      config, logger, publisher, topic, symbols: FOLLOWED,
      profiles: createFileProfileSource(profilesFile), competitors: createCompetitorFinder({ config, logger }),
    });
    const first = await producer.runOnce();
    expect(first).toMatchObject({ profiles: 5, missing: [], competitors: { [A]: 'profile-industry', [D]: 'profile-industry' } });
    expect((await producer.runOnce()).published).toBe(0); // nothing changed: nothing new on the log
    await settle();

    expect(await rows('MATCH (c:Company)-[:IN_SECTOR]->(s:Sector) WHERE c.symbol STARTS WITH $run RETURN c.symbol AS c, s.name AS s ORDER BY c'))
      .toEqual(PROFILES.map((p) => ({ c: p.symbol, s: p.sector })).sort((x, y) => x.c.localeCompare(y.c)));
    expect(await rows('MATCH (c:Company)-[:IN_INDUSTRY]->(i:Industry) WHERE c.symbol STARTS WITH $run RETURN c.symbol AS c, i.name AS i ORDER BY c'))
      .toEqual(PROFILES.map((p) => ({ c: p.symbol, i: p.industry })).sort((x, y) => x.c.localeCompare(y.c)));
    expect(await rows(`MATCH (c:Company:Stock {symbol: '${A}'}) ` +
      'RETURN c.name AS name, c.exchange AS exchange, c.sector AS sector, c.industry AS industry, c.profile_source AS source'))
      .toEqual([{ name: 'Alpha Chips Inc.', exchange: 'NasdaqGS', sector: TECH, industry: CHIPS, source: 'file' }]);
    expect(await rows('MATCH (a:Company)-[x:COMPETES_WITH]->(b:Company) WHERE a.symbol STARTS WITH $run ' +
      'RETURN a.symbol AS a, b.symbol AS b, x.source AS source, x.confidence AS confidence ORDER BY a, b'))
      .toEqual([[A, B], [A, F], [B, A], [B, F]].map(([a, b]) => ({ a, b, source: 'profile-industry', confidence: 0.4 })));
  });

  it('a company that changes sector or industry loses its old IN_SECTOR/IN_INDUSTRY', async () => {
    const M = `${RUN}M`;
    let profile = { symbol: M, name: 'Mike Co', sector: TECH, industry: SOFTWARE, exchange: 'NYSE' };
    const source: ProfileSource = { origin: 'file', profiles: async () => ({ profiles: [profile], missing: [] }), known: async () => [profile] };
    const producer = createGraphProducer({
      config, logger, publisher, topic, symbols: [M], profiles: source, competitors: createCompetitorFinder({ config, logger }),
    });
    await producer.runOnce();
    profile = { ...profile, sector: AUTO, industry: CARS };
    expect(await producer.runOnce()).toMatchObject({ deletes: 2 });
    await settle();
    expect(await rows(`MATCH (c:Company {symbol: '${M}'})-[x]->(n) RETURN type(x) AS type, n.name AS name ORDER BY type`))
      .toEqual([{ type: 'IN_INDUSTRY', name: CARS }, { type: 'IN_SECTOR', name: AUTO }]);
    expect(await rows(`MATCH (c:Company {symbol: '${M}'}) RETURN c.sector AS sector`)).toEqual([{ sector: AUTO }]);
  });

  it('with Claude: answered competitors with a profile become COMPETES_WITH (claude); one Claude drops later is deleted', async () => {
    // E has no profile (a ticker Claude made up): no COMPETES_WITH to it, no Company node.
    const answers: Record<string, unknown[]> = {
      [C]: [{ symbol: A, name: 'Alpha', confidence: 0.8 }],
      [D]: [{ symbol: F, name: 'Foxtrot', confidence: 0.9 }, { symbol: E, name: 'Echo Cars', confidence: 0.7 }],
    };
    fake.setDefault((req) => {
      const symbol = /<symbol>([^<]+)<\/symbol>/.exec(String(req.body.messages[0].content))![1]!;
      return toolUseResponse({ competitors: answers[symbol] ?? [] }, { name: COMPETITORS_TOOL_NAME });
    });
    const claudeConfig: Config = { ...config, ANTHROPIC_API_KEY: 'sk-ant-test-graph', ANTHROPIC_BASE_URL: fake.url };
    const competitors = createCompetitorFinder({ config: claudeConfig, logger, pool, claude: { minBackoffMs: 1, maxBackoffMs: 5 } });
    const producer = createGraphProducer({
      config: claudeConfig, logger, publisher, topic, symbols: [C, D], refreshMs: 0,
      profiles: createFileProfileSource(profilesFile), competitors,
    });
    try {
      expect(await producer.runOnce()).toMatchObject({ competitors: { [C]: 'claude', [D]: 'claude' }, droppedCompetitors: 1 });
      await settle();
      expect(fake.requests.map((r) => /<symbol>([^<]+)</.exec(r.body.messages[0].content)![1]).sort()).toEqual([C, D]);
      const competes = () => rows('MATCH (a:Company)-[x:COMPETES_WITH]->(b:Company) WHERE a.symbol IN [$run + "C", $run + "D"] ' +
        'RETURN a.symbol AS a, b.symbol AS b, x.source AS source, x.confidence AS confidence, x.model AS model ORDER BY a');
      expect(await competes()).toEqual([
        { a: C, b: A, source: 'claude', confidence: 0.8, model: 'claude-haiku-5-5' },
        { a: D, b: F, source: 'claude', confidence: 0.9, model: 'claude-haiku-5-5' },
      ]);
      expect(await rows(`MATCH (f:Company:Stock {symbol: '${F}'}) RETURN f.name AS name`)).toEqual([{ name: 'Foxtrot Devices' }]); // its profile
      expect(await rows(`MATCH (e:Company {symbol: '${E}'}) RETURN e.symbol AS s`)).toEqual([]);

      answers[C] = [];
      expect((await producer.runOnce()).deletes).toBe(1);
      await settle();
      expect((await competes()).map((r) => r.a)).toEqual([D]);
    } finally {
      await competitors.close();
    }
  });

  it('correlation analyzer: CORRELATED_WITH for the pairs whose daily returns correlate above the threshold, deleted once below', async () => {
    // 50 days from 2026-01-05 hold 34 sessions (no weekends, MLK Day, Washington's Birthday): 31 closes for 30 returns.
    await insertBars(synthetic.bars([A, B, C, D], { from: DAY0, to: DAY0 + 50 * DAY, interval: '1d' }, { source: 'backfill', ingestTime: DAY0 + 51 * DAY }));
    const now = DAY0 + 50 * DAY + 12 * 3_600_000;

    // What the fixture implies, computed here from the bars directly: r of simple daily returns over the last 30.
    const closes = (s: string) => synthetic.bars([s], { from: DAY0, to: DAY0 + 50 * DAY, interval: '1d' }).map((b) => b.close).slice(-31);
    const returns = (s: string) => closes(s).slice(1).map((c, i) => c / closes(s)[i]! - 1);
    const r = (x: number[], y: number[]) => {
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const [mx, my] = [mean(x), mean(y)];
      const cov = x.reduce((acc, xi, i) => acc + (xi - mx) * (y[i]! - my), 0);
      return cov / Math.sqrt(x.reduce((acc, xi) => acc + (xi - mx) ** 2, 0) * y.reduce((acc, yi) => acc + (yi - my) ** 2, 0));
    };
    const expected = [[A, B], [A, C], [A, D], [B, C], [B, D], [C, D]]
      .map(([a, b]) => ({ a: a!, b: b!, coefficient: Math.round(r(returns(a!), returns(b!)) * 10_000) / 10_000 }))
      .filter((p) => Math.abs(p.coefficient) >= 0.7);
    expect(expected.map((p) => `${p.a}-${p.b}`)).toEqual([`${A}-${B}`, `${A}-${C}`, `${B}-${C}`]); // the shared tech factor shows

    const analyzer = createCorrelationAnalyzer({
      config, logger, publisher, pool, topic, symbols: [A, B, C, D], windowDays: 30, threshold: 0.7, clock: () => now,
    });
    const run = await analyzer.runOnce();
    expect(run).toMatchObject({ symbols: 4, pairs: 6, above: expected.length, deletes: 6 - expected.length });
    await settle();
    const correlated = () => rows('MATCH (a:Company)-[x:CORRELATED_WITH]->(b:Company) WHERE a.symbol STARTS WITH $run ' +
      'RETURN a.symbol AS a, b.symbol AS b, x.coefficient AS coefficient, x.window_days AS window, x.last_day AS lastDay ORDER BY a, b');
    expect(await correlated()).toEqual(expected.map((p) => ({ ...p, window: 30, lastDay: '2026-02-23' })));

    // A stricter threshold later: the pairs below it are deleted.
    const strict = createCorrelationAnalyzer({
      config, logger, publisher, pool, topic, symbols: [A, B, C, D], windowDays: 30, threshold: 0.999, clock: () => now + 3_600_000,
    });
    expect(await strict.runOnce()).toMatchObject({ above: 0, deletes: 6 });
    await settle();
    expect(await correlated()).toEqual([]);
  });

  it('daily closes: the 1d bar of a day when there is one, else the bar of a finer interval that ends at the session close', async () => {
    const hourly = synthetic.bars([G, H], { from: DAY0, to: DAY0 + 40 * DAY, interval: '1h' }, { source: 'backfill', ingestTime: DAY0 });
    await insertBars(hourly);
    await insertBars([{ ...hourly[0]!, symbol: G, interval: '1d', eventTime: DAY0 + 3 * DAY, close: 999, high: 1000, source: 'backfill' }]);
    const series = await readDailyCloses(pool, { from: DAY0, to: DAY0 + 40 * DAY, symbols: [G, H] });
    // January and early February: 16:00 New York is 21:00 UTC, so the half-hour bar from 20:30 UTC (15:30) closes the session.
    const atClose = (s: string, d: number) => hourly.find((b) => b.symbol === s && b.eventTime === DAY0 + d * DAY + 20.5 * 3_600_000)!.close;
    const iso = (d: number) => new Date(DAY0 + d * DAY).toISOString().slice(0, 10);
    expect(series.get(H)?.size).toBe(US_CALENDAR.sessionsBetween(DAY0, DAY0 + 40 * DAY).length); // every session, no other day
    expect(series.get(H)?.get(iso(7))).toBe(atClose(H, 7));
    expect(series.get(G)?.get(iso(2))).toBe(atClose(G, 2));
    expect(series.get(G)?.get(iso(3))).toBe(999);
  });
});
