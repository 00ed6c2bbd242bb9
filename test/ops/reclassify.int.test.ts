// `marketstream enrich reclassify` against the real Kafka, registry, PostgreSQL and Neo4j (isolated topics, random
// symbols), Claude played by the stand-in Messages API: events the enricher classified with the rules (no API key)
// are asked about again with a key; the cache, market_events and — through a neo4j-sink on the isolated
// graph-mutations topic — the MarketEvent nodes then say `claude`, and AFFECTS follow Claude's answer. A second run
// asks nothing, a dry run asks nothing and prints the count and the estimated cost, another model can be chosen on
// purpose, and a replay of the events topic afterwards is answered from the cache: no Claude request.
// Each test sets up what it checks: fresh events on an events topic and an enricher group of their own, classified by
// the rules (kept for the tests that only read them) and, for the tests after a reclassification, reclassified once.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeBudgetScope } from '../../consumers/enricher/classifier.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import { reclassify } from '../../ops/enrich/reclassify.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { deleteEventRows, deleteTestTopics, newEvent, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { replay as replayGroup } from '../../ops/replay.ts';

const run = promisify(execFile);
const logger = testLogger('enrich-reclassify');
/** The model asked, and its published price (USD per million tokens, Anthropic's pricing page): 0.10 input, 0.50 output. */
const MODEL = 'claude-haiku-5-5';
const PRICE_PER_MTOK = { input: 0.1, output: 0.5 };
const base = testConfig({ SINK_RETRY_MAX_MS: '1000', LOG_LEVEL: 'warn', ANTHROPIC_MODEL: MODEL });
const kafka = testKafka(base);
/** Shared by every test: the price topic (unused) and graph-mutations, applied by one neo4j-sink. */
const shared = {
  prices: withName(priceUpdates, randomName('test-prices')),
  mutations: withName(graphMutations, randomName('test-mutations')),
};
const created: string[] = [shared.prices.name, shared.prices.dlq, shared.mutations.name, shared.mutations.dlq];
const prefixes: string[] = [];
const allIds: string[] = [];
const allSymbols: string[] = [];

let pool: Pool;
let driver: Driver;
let publisher: Publisher;
let fake: FakeAnthropic;
let neo4jSink: RunningSinks | undefined;
const enrichers: RunningSinks[] = [];

/** Three events, each naming two fresh companies, on an events topic and an enricher group of their own. */
interface World {
  events: MarketEvent[];
  ids: string[];
  symbols: string[];
  topics: { prices: TopicDef<PriceUpdate>; events: TopicDef<MarketEvent>; mutations: TopicDef<GraphMutation> };
  /** The rule-based enricher's configuration (no API key). */
  rules: Config;
  /** The same group with a key for the stand-in Claude. */
  claude: Config;
}

async function newWorld(): Promise<World> {
  /** Each event names two companies; the rules link both (a merger), Claude only the first (a lawsuit against it). */
  const pairs = Array.from({ length: 3 }, () => [randomSymbol(), randomSymbol()] as const);
  const events = pairs.map(([a, b]) => newEvent({ symbols: [a, b], headline: `${a} and ${b} announce a merger`, summary: null, url: null, category: null }));
  const rules: Config = { ...base, KAFKA_GROUP_PREFIX: randomName('test-reclassify'), ANTHROPIC_API_KEY: '' };
  const topics = { ...shared, events: withName(marketEvents, randomName('test-events')) };
  await ensureTopics(kafka, rules, [topics.events]);
  created.push(topics.events.name, topics.events.dlq);
  prefixes.push(rules.KAFKA_GROUP_PREFIX);
  const w: World = {
    events, ids: events.map((e) => e.id), symbols: pairs.flat(), topics, rules,
    claude: { ...rules, ANTHROPIC_API_KEY: 'sk-ant-test-reclassify', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1 },
  };
  allIds.push(...w.ids);
  allSymbols.push(...w.symbols);
  return w;
}

/** A new world whose events the enricher classified with the rules (no API key), then stopped. */
async function ruleClassified(): Promise<World> {
  const w = await newWorld();
  const enricher = await startEnricher(w, w.rules);
  await publisher.send(w.topics.events, w.events, { source: 'test' });
  await waitFor(async () => { const x = await graph(w); return x.length === 3 && x.every((e) => e.affects.length === 2); },
    { what: 'the rule-based MarketEvent nodes with their AFFECTS', timeoutMs: 90_000 });
  const groupId = groupIdOf(w.rules, 'enricher');
  await waitFor(async () => (await totalLag(kafka, groupId, [w.topics.events.name])) === 0, { what: 'the enricher to commit the events' });
  await enricher.stop();
  return w;
}

/** An enricher for the world's topics (stopped at the end if still running; stop() may be called again). */
async function startEnricher(w: World, config: Config): Promise<RunningSinks> {
  const s = await startSinks({ config, logger, names: ['enricher'], topics: w.topics });
  let stopped: Promise<boolean> | undefined;
  const handle = { ...s, stop: () => (stopped ??= s.stop()) };
  enrichers.push(handle);
  return handle;
}

/** Memoizes a setup, so the tests that only read its result share one. */
function once<T>(setup: () => Promise<T>): () => Promise<T> {
  let done: Promise<T> | undefined;
  return () => (done ??= setup());
}

/** Classified by the rules, untouched since: the tests that only read it (and ask nothing) share it. */
const rulesWorld = once(ruleClassified);

/** Classified by the rules, then reclassified once with Claude (the result and the requests it took kept). */
const reclassifiedWorld = once(async () => {
  const w = await ruleClassified();
  const claude = { minBackoffMs: 1, maxBackoffMs: 5 };
  const result = await reclassify({ config: w.claude, logger, symbols: w.symbols, mutationsTopic: w.topics.mutations, claude });
  return { w, result };
});

/** The stand-in Claude's requests about a world's events (their prompts name its companies). */
const asked = (w: World) => fake.requests.filter((r) => w.symbols.some((s) => JSON.stringify(r.body).includes(s)));

async function graph(w: World) {
  const { records } = await driver.executeQuery(
    `MATCH (e:MarketEvent) WHERE e.id IN $ids OPTIONAL MATCH (e)-[:AFFECTS]->(c:Company)
     RETURN e.id AS id, e.classifier AS classifier, e.model AS model, e.type AS type, collect(c.symbol) AS affects ORDER BY id`, { ids: w.ids });
  return records.map((r) => ({
    id: r.get('id') as string, classifier: r.get('classifier') as string, model: r.get('model') as string, type: r.get('type') as string,
    affects: (r.get('affects') as string[]).sort(),
  }));
}
async function cached(w: World) {
  const { rows } = await pool.query(
    'SELECT event_id, classifier, model, fallback_reason, classification FROM event_classifications WHERE event_id = ANY($1) ORDER BY event_id', [w.ids]);
  return rows;
}
async function enrichedRows(w: World) {
  const { rows } = await pool.query('SELECT id, type, sentiment, classifier, model FROM market_events WHERE id = ANY($1) ORDER BY id', [w.ids]);
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
  const sinkConfig = { ...base, KAFKA_GROUP_PREFIX: randomName('test-reclassify') };
  prefixes.push(sinkConfig.KAFKA_GROUP_PREFIX);
  neo4jSink = await startSinks({ config: sinkConfig, logger, names: ['neo4j'], topics: { prices: shared.prices, mutations: shared.mutations } });
});
afterAll(async () => {
  for (const e of enrichers) await e.stop();
  await neo4jSink?.stop();
  await publisher?.disconnect();
  await fake?.close();
  await driver?.executeQuery(
    'MATCH (n) WHERE (n:MarketEvent AND n.id IN $ids) OR (n:Company AND n.symbol IN $symbols) ' +
      'OR (n:GraphTombstone AND any(i IN $ids WHERE n.key CONTAINS i)) DETACH DELETE n',
    { ids: allIds, symbols: allSymbols }).catch(() => {});
  await driver?.close();
  if (pool) {
    await deleteEventRows(pool, allIds);
    for (const prefix of prefixes) {
      const scope = claudeBudgetScope({ ...base, KAFKA_GROUP_PREFIX: prefix });
      await pool.query('DELETE FROM claude_budget_spend WHERE scope = $1', [scope]).catch(() => {});
      await pool.query('DELETE FROM claude_budget_scopes WHERE scope = $1', [scope]).catch(() => {});
    }
    await pool.end();
  }
  await deleteTestTopics(kafka, created);
});

describe('enrich reclassify', () => {
  it('starts from events the enricher classified with the rules (no API key)', async () => {
    const w = await rulesWorld();
    const g = await graph(w);
    expect(g).toHaveLength(3);
    expect(g.every((e) => e.affects.length === 2)).toBe(true);
    expect(g.every((e) => e.classifier === 'rules' && e.type === 'merger_acquisition')).toBe(true);
    expect((await cached(w)).map((r) => r.classifier)).toEqual(['rules', 'rules', 'rules']);
  });

  it('--dry-run prints how many events and the estimated cost, and asks nothing', async () => {
    const w = await rulesWorld();
    const { stdout } = await run(process.execPath, ['bin/marketstream.js', 'enrich', 'reclassify', '--dry-run', '--symbols', w.symbols.join(',')], {
      env: {
        ...process.env, KAFKA_GROUP_PREFIX: w.claude.KAFKA_GROUP_PREFIX, ANTHROPIC_API_KEY: w.claude.ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_MODEL: MODEL, LOG_LEVEL: 'warn', LOG_FORMAT: 'json',
      },
      timeout: 60_000,
    });
    expect(stdout).toMatch(new RegExp(`^3 event\\(s\\) to ask ${MODEL} about \\(now by the rules: 3, by another Claude model: 0\\)`));
    const cost = /estimated cost: at most \$([\d.]+) \(([\d,]+) input \+ at most ([\d,]+) output tokens/.exec(stdout);
    expect(cost, stdout).not.toBeNull();
    const [input, output] = [Number(cost![2]!.replace(/,/g, '')), Number(cost![3]!.replace(/,/g, ''))];
    // The cost of the tokens printed, at the model's published price.
    const expected = (input * PRICE_PER_MTOK.input + output * PRICE_PER_MTOK.output) / 1_000_000;
    expect(Number(cost![1])).toBeCloseTo(expected, 5);
    expect(input).toBeGreaterThan(0);
    expect(output).toBe(3 * 1024);
    expect(stdout).toContain(`hourly budget shared by ${groupIdOf(w.claude, 'enricher')}`);
    expect(stdout).toContain('dry run: Claude was asked nothing');
    expect(asked(w)).toHaveLength(0);
  });

  it('asks Claude within the shared budget and updates the cache, market_events and the graph', async () => {
    const { w, result: r } = await reclassifiedWorld();
    expect(r).toMatchObject({ reclassified: 3, failed: [], left: 0, stoppedBy: null, spent: { requests: 3, tokens: 3 * 780 } });
    expect(r.plan).toMatchObject({ events: 3, byClassifier: { rules: 3, claude: 0 }, selection: { from: 'rules', model: MODEL } });
    expect(asked(w)).toHaveLength(3);

    const rows = await cached(w);
    expect(rows.map((x) => [x.classifier, x.model, x.fallback_reason])).toEqual(Array(3).fill(['claude', MODEL, null]));
    expect(rows.map((x) => x.classification.type)).toEqual(['legal', 'legal', 'legal']);
    expect((await enrichedRows(w)).map((x) => [x.type, x.sentiment, x.classifier, x.model])).toEqual(Array(3).fill(['legal', 'negative', 'claude', MODEL]));
    // The spending is the group's: recorded under the enricher's consumer group id.
    const { rows: [spent] } = await pool.query('SELECT sum(tokens)::int AS tokens, sum(calls)::int AS calls FROM claude_budget_spend WHERE scope = $1',
      [groupIdOf(w.claude, 'enricher')]);
    expect(spent).toEqual({ tokens: 3 * 780, calls: 3 });

    // The neo4j-sink applies the republished mutations: Claude's classification, AFFECTS only to the company it named.
    const expected = sorted(w.events.map((e) => ({ id: e.id, classifier: 'claude', model: MODEL, type: 'legal', affects: [e.symbols[0]!] })));
    await waitFor(async () => JSON.stringify(await graph(w)) === JSON.stringify(expected), { what: 'the MarketEvent nodes by Claude', timeoutMs: 60_000 });
  });

  it('asks nothing the second time: the events are Claude\'s with that model now', async () => {
    const { w } = await reclassifiedWorld();
    const r = await reclassify({ config: w.claude, logger, symbols: w.symbols, mutationsTopic: w.topics.mutations });
    expect(r.plan.events).toBe(0);
    expect(r.reclassified).toBe(0);
    expect(asked(w)).toHaveLength(3);
  });

  it('selects them again only when another model is chosen on purpose (dry run)', async () => {
    const { w } = await reclassifiedWorld();
    const other = await reclassify({ config: w.claude, logger, symbols: w.symbols, model: 'claude-sonnet-5-5', dryRun: true });
    expect(other.plan).toMatchObject({ events: 3, byClassifier: { rules: 0, claude: 3 }, selection: { from: 'any', model: 'claude-sonnet-5-5' } });
    expect(other.plan.estimate.costUsd).toBeGreaterThan(0);
    const rulesOnly = await reclassify({ config: w.claude, logger, symbols: w.symbols, model: 'claude-sonnet-5-5', from: 'rules', dryRun: true });
    expect(rulesOnly.plan.events).toBe(0);
    expect(asked(w)).toHaveLength(3);
  });

  it('a replay of the events topic afterwards is answered from the cache: no Claude request, Claude\'s classification kept', async () => {
    const { w } = await reclassifiedWorld();
    const groupId = groupIdOf(w.claude, 'enricher');
    await replayGroup(kafka, { groupId, topics: [w.topics.events.name], target: { kind: 'earliest' } });
    expect(await totalLag(kafka, groupId, [w.topics.events.name])).toBe(3);
    const enricher = await startEnricher(w, w.claude);
    await waitFor(async () => (await totalLag(kafka, groupId, [w.topics.events.name])) === 0, { what: 'the enricher to replay the events', timeoutMs: 90_000 });
    await enricher.stop();
    expect(asked(w)).toHaveLength(3);
    expect((await cached(w)).map((x) => x.classifier)).toEqual(['claude', 'claude', 'claude']);
    expect((await enrichedRows(w)).map((x) => x.classifier)).toEqual(['claude', 'claude', 'claude']);
    const g = await graph(w);
    expect(g.every((e) => e.classifier === 'claude' && e.affects.length === 1)).toBe(true);
  });
});
