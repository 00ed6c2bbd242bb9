// `marketstream enrich reclassify` against the real Kafka, registry, PostgreSQL and Neo4j (isolated topics, random
// symbols), Claude played by the stand-in Messages API: events the enricher classified with the rules (no API key)
// are asked about again with a key; the cache, market_events and — through a neo4j-sink on the isolated
// graph-mutations topic — the MarketEvent nodes then say `claude`, and AFFECTS follow Claude's answer. A second run
// asks nothing, a dry run asks nothing and prints the count and the estimated cost, another model can be chosen on
// purpose, and a replay of the events topic afterwards is answered from the cache: no Claude request.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeBudgetScope } from '../../consumers/enricher/classifier.ts';
import { requestEstimate } from '../../consumers/enricher/claude-classifier.ts';
import { toClassify } from '../../consumers/enricher/types.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { costUsd, priceOf, tokensOf } from '../../lib/claude/index.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import { reclassify } from '../../ops/enrich/reclassify.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { deleteEventRows, deleteTestTopics, newEvent, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { replay as replayGroup } from '../../ops/replay.ts';

const run = promisify(execFile);
const logger = testLogger('enrich-reclassify');
const base = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-reclassify'), SINK_RETRY_MAX_MS: '1000', LOG_LEVEL: 'warn' });
const rulesConfig: Config = { ...base, ANTHROPIC_API_KEY: '' };
const kafka = testKafka(base);
const topics = {
  prices: withName(priceUpdates, randomName('test-prices')),
  events: withName(marketEvents, randomName('test-events')),
  mutations: withName(graphMutations, randomName('test-mutations')),
};
const MODEL = base.ANTHROPIC_MODEL;
/** Each event names two companies; the rules link both (a merger), Claude only the first (a lawsuit against it). */
const pairs = Array.from({ length: 3 }, () => [randomSymbol(), randomSymbol()] as const);
const symbols = pairs.flat();
const events: MarketEvent[] = pairs.map(([a, b]) => newEvent({ symbols: [a, b], headline: `${a} and ${b} announce a merger`, summary: null, url: null, category: null }));
const ids = events.map((e) => e.id);

let pool: Pool;
let driver: Driver;
let publisher: Publisher;
let fake: FakeAnthropic;
let claudeConfig: Config;
let neo4jSink: RunningSinks | undefined;
let enricher: RunningSinks | undefined;

async function graph() {
  const { records } = await driver.executeQuery(
    `MATCH (e:MarketEvent) WHERE e.id IN $ids OPTIONAL MATCH (e)-[:AFFECTS]->(c:Company)
     RETURN e.id AS id, e.classifier AS classifier, e.model AS model, e.type AS type, collect(c.symbol) AS affects ORDER BY id`, { ids });
  return records.map((r) => ({ id: r.get('id') as string, classifier: r.get('classifier') as string, model: r.get('model') as string, type: r.get('type') as string, affects: (r.get('affects') as string[]).sort() }));
}
async function cached() {
  const { rows } = await pool.query('SELECT event_id, classifier, model, fallback_reason, classification FROM event_classifications WHERE event_id = ANY($1) ORDER BY event_id', [ids]);
  return rows;
}
async function enrichedRows() {
  const { rows } = await pool.query('SELECT id, type, sentiment, classifier, model FROM market_events WHERE id = ANY($1) ORDER BY id', [ids]);
  return rows;
}
const sorted = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));

beforeAll(async () => {
  pool = createPgPool(base, { max: 2 });
  await migrate(pool);
  driver = createNeo4jDriver(base);
  publisher = createPublisher({ kafka, serde: createSerde(base), logger });
  await publisher.connect();
  fake = await startFakeAnthropic();
  fake.setDefault((req) => {
    const [first] = /<tickers_listed_by_source>([^<]+)</.exec(req.body.messages[0].content)![1]!.split(', ');
    return toolUseResponse({
      type: 'legal', sentiment: 'negative', sentiment_score: -0.4,
      affected: [{ symbol: first, relevance: 1 }], rationale: 'The company is sued over the deal.',
    }, { model: req.body.model, inputTokens: 700, outputTokens: 80 });
  });
  claudeConfig = { ...base, ANTHROPIC_API_KEY: 'sk-ant-test-reclassify', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1 };
  neo4jSink = await startSinks({ config: base, logger, names: ['neo4j'], topics });
  enricher = await startSinks({ config: rulesConfig, logger, names: ['enricher'], topics });
});
afterAll(async () => {
  await enricher?.stop();
  await neo4jSink?.stop();
  await publisher?.disconnect();
  await fake?.close();
  await driver?.executeQuery(
    'MATCH (n) WHERE (n:MarketEvent AND n.id IN $ids) OR (n:Company AND n.symbol IN $symbols) OR (n:GraphTombstone AND any(i IN $ids WHERE n.key CONTAINS i)) DETACH DELETE n',
    { ids, symbols }).catch(() => {});
  await driver?.close();
  if (pool) {
    await deleteEventRows(pool, ids);
    await pool.query('DELETE FROM claude_budget_spend WHERE scope = $1', [claudeBudgetScope(base)]).catch(() => {});
    await pool.query('DELETE FROM claude_budget_scopes WHERE scope = $1', [claudeBudgetScope(base)]).catch(() => {});
    await pool.end();
  }
  await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
});

describe('enrich reclassify', () => {
  it('starts from events the enricher classified with the rules (no API key)', async () => {
    await publisher.send(topics.events, events, { source: 'test' });
    const g = await waitFor(async () => { const x = await graph(); return x.length === 3 && x.every((e) => e.affects.length === 2) ? x : null; },
      { what: 'the rule-based MarketEvent nodes with their AFFECTS', timeoutMs: 90_000 });
    expect(g.every((e) => e.classifier === 'rules' && e.type === 'merger_acquisition')).toBe(true);
    expect((await cached()).map((r) => r.classifier)).toEqual(['rules', 'rules', 'rules']);
    await enricher!.stop();
    enricher = undefined;
  });

  it('--dry-run prints how many events and the estimated cost, and asks nothing', async () => {
    const { stdout } = await run(process.execPath, ['bin/marketstream.js', 'enrich', 'reclassify', '--dry-run', '--symbols', symbols.join(',')], {
      env: { ...process.env, KAFKA_GROUP_PREFIX: base.KAFKA_GROUP_PREFIX, ANTHROPIC_API_KEY: claudeConfig.ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL: fake.url, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' },
      timeout: 60_000,
    });
    const price = priceOf(MODEL).price;
    const expected = events.reduce((sum, e) => sum + costUsd({ ...tokensOf(undefined), ...requestEstimate(toClassify(e)) }, price), 0);
    expect(stdout).toMatch(new RegExp(`^3 event\\(s\\) to ask ${MODEL} about \\(now by the rules: 3, by another Claude model: 0\\)`));
    const cost = /estimated cost: at most \$([\d.]+) \(([\d,]+) input \+ at most ([\d,]+) output tokens/.exec(stdout);
    expect(cost, stdout).not.toBeNull();
    expect(Number(cost![1])).toBeCloseTo(expected, 5);
    expect(Number(cost![3]!.replace(/,/g, ''))).toBe(3 * 1024);
    expect(stdout).toContain(`hourly budget shared by ${groupIdOf(base, 'enricher')}`);
    expect(stdout).toContain('dry run: Claude was asked nothing');
    expect(fake.requests).toHaveLength(0);
  });

  it('asks Claude within the shared budget and updates the cache, market_events and the graph', async () => {
    const r = await reclassify({ config: claudeConfig, logger, symbols, mutationsTopic: topics.mutations, claude: { minBackoffMs: 1, maxBackoffMs: 5 } });
    expect(r).toMatchObject({ reclassified: 3, failed: [], left: 0, stoppedBy: null, spent: { requests: 3, tokens: 3 * 780 } });
    expect(r.plan).toMatchObject({ events: 3, byClassifier: { rules: 3, claude: 0 }, selection: { from: 'rules', model: MODEL } });
    expect(fake.requests).toHaveLength(3);

    const rows = await cached();
    expect(rows.map((x) => [x.classifier, x.model, x.fallback_reason])).toEqual(Array(3).fill(['claude', MODEL, null]));
    expect(rows.map((x) => x.classification.type)).toEqual(['legal', 'legal', 'legal']);
    expect((await enrichedRows()).map((x) => [x.type, x.sentiment, x.classifier, x.model])).toEqual(Array(3).fill(['legal', 'negative', 'claude', MODEL]));
    // The spending is the group's: recorded under the enricher's consumer group id.
    const { rows: [spent] } = await pool.query('SELECT sum(tokens)::int AS tokens, sum(calls)::int AS calls FROM claude_budget_spend WHERE scope = $1', [groupIdOf(base, 'enricher')]);
    expect(spent).toEqual({ tokens: 3 * 780, calls: 3 });

    // The neo4j-sink applies the republished mutations: Claude's classification, AFFECTS only to the company it named.
    const expected = sorted(events.map((e) => ({ id: e.id, classifier: 'claude', model: MODEL, type: 'legal', affects: [e.symbols[0]!] })));
    await waitFor(async () => JSON.stringify(await graph()) === JSON.stringify(expected), { what: 'the MarketEvent nodes by Claude', timeoutMs: 60_000 });
  });

  it('asks nothing the second time: the events are Claude\'s with that model now', async () => {
    const r = await reclassify({ config: claudeConfig, logger, symbols, mutationsTopic: topics.mutations });
    expect(r.plan.events).toBe(0);
    expect(r.reclassified).toBe(0);
    expect(fake.requests).toHaveLength(3);
  });

  it('selects them again only when another model is chosen on purpose (dry run)', async () => {
    const other = await reclassify({ config: claudeConfig, logger, symbols, model: 'claude-sonnet-5-5', dryRun: true });
    expect(other.plan).toMatchObject({ events: 3, byClassifier: { rules: 0, claude: 3 }, selection: { from: 'any', model: 'claude-sonnet-5-5' } });
    expect(other.plan.estimate.costUsd).toBeGreaterThan(0);
    const rulesOnly = await reclassify({ config: claudeConfig, logger, symbols, model: 'claude-sonnet-5-5', from: 'rules', dryRun: true });
    expect(rulesOnly.plan.events).toBe(0);
    expect(fake.requests).toHaveLength(3);
  });

  it('a replay of the events topic afterwards is answered from the cache: no Claude request, Claude\'s classification kept', async () => {
    const groupId = groupIdOf(base, 'enricher');
    await replayGroup(kafka, { groupId, topics: [topics.events.name], target: { kind: 'earliest' } });
    expect(await totalLag(kafka, groupId, [topics.events.name])).toBe(3);
    enricher = await startSinks({ config: claudeConfig, logger, names: ['enricher'], topics });
    await waitFor(async () => (await totalLag(kafka, groupId, [topics.events.name])) === 0, { what: 'the enricher to replay the events', timeoutMs: 90_000 });
    expect(fake.requests).toHaveLength(3);
    expect((await cached()).map((x) => x.classifier)).toEqual(['claude', 'claude', 'claude']);
    expect((await enrichedRows()).map((x) => x.classifier)).toEqual(['claude', 'claude', 'claude']);
    const g = await graph();
    expect(g.every((e) => e.classifier === 'claude' && e.affects.length === 1)).toBe(true);
  });
});
