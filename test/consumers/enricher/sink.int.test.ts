// The enricher consumer group end to end against the real Kafka, registry and PostgreSQL, on isolated topics:
// market events in → graph mutations out (decoded, whitelisted, keyed by entity, origin enricher) and the enrichment in
// market_events; the rule-based path without an API key, the Claude path against a local Messages API server;
// replaying market-events (the group rewound) republishes the mutations without a second Claude request; a
// tombstone withdraws the event from the graph and from market_events.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../../consumers/registry.ts';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { processMetrics } from '../../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../../schemas/types.generated.ts';
import { validateGraphMutation } from '../../../topics/graph-model.ts';
import { graphMutationKey, graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { consumeMessages, deleteTestTopics, randomName, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const logger = testLogger('enricher-test');
const base = testConfig({ ANTHROPIC_API_KEY: '' });
const kafka = testKafka(base);
const serde = createSerde(base);
const ids: string[] = [];
const topicNames: string[] = [];
let pool: Pool;
let publisher: Publisher;
let running: RunningSinks | undefined;

interface Isolated { config: Config; events: TopicDef<MarketEvent>; mutations: TopicDef<GraphMutation>; start(): Promise<void>; stop(): Promise<void> }

function isolated(overrides: Partial<Config> = {}): Isolated {
  const topics = {
    prices: withName(priceUpdates, randomName('test-prices')),
    events: withName(marketEvents, randomName('test-events')),
    mutations: withName(graphMutations, randomName('test-mutations')),
  };
  topicNames.push(...Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  const config: Config = { ...base, KAFKA_GROUP_PREFIX: randomName('test'), LOG_LEVEL: 'warn', SINK_RETRY_MAX_MS: 1000, ...overrides };
  return {
    config, events: topics.events, mutations: topics.mutations,
    async start() { running = await startSinks({ config, logger, names: ['enricher'], topics }); },
    async stop() { await running?.stop(); running = undefined; },
  };
}

const T0 = Date.UTC(2026, 10, 20, 14, 30);
function newEvent(headline: string, symbols: string[]): MarketEvent {
  const id = randomName('evt');
  ids.push(id);
  return { id, symbols, headline, summary: null, source: 'Test Wire', url: `https://example.com/${id}`, publishedAt: T0, category: null, ingestTime: T0 + 60_000 };
}

interface Out { key: string | null; value: GraphMutation | null; headers: Record<string, string> }
async function readMutations(topic: TopicDef<GraphMutation>, count: number): Promise<Out[]> {
  const messages = await consumeMessages(kafka, topic.name, count);
  return Promise.all(messages.map(async (m) => ({
    key: m.key?.toString() ?? null,
    value: m.value ? (await serde.decode(topic, m.value)).value : null,
    headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, String(v)])),
  })));
}

async function enrichedRows(eventIds: string[]) {
  const { rows } = await pool.query('SELECT id, type, sentiment, sentiment_score, classifier, model FROM market_events WHERE id = ANY($1) AND enriched_at IS NOT NULL ORDER BY id', [eventIds]);
  return rows;
}
const waitEnriched = (eventIds: string[]) =>
  waitFor(async () => { const r = await enrichedRows(eventIds); return r.length === eventIds.length ? r : null; }, { what: `${eventIds.length} enriched market_events rows`, timeoutMs: 60_000 });

async function storedAffected(id: string): Promise<string[]> {
  const { rows } = await pool.query<{ classification: { affected: { symbol: string }[] } }>('SELECT classification FROM event_classifications WHERE event_id = $1', [id]);
  return rows[0]!.classification.affected.map((a) => a.symbol);
}

/** Every mutation is valid for the graph, keyed by its entity, from the enricher. */
function expectWellFormed(out: Out[]) {
  for (const o of out) {
    expect(o.value).not.toBeNull();
    expect(o.key).toBe(graphMutationKey(o.value!));
    expect(validateGraphMutation(o.value!, Date.now())).toBeNull();
    expect(o.value!.origin).toBe('enricher');
    expect(o.headers.source).toBe('enricher');
  }
}
const nodeProps = (out: Out[], id: string) => {
  const op = out.find((o) => o.key === `MarketEvent:${id}`)?.value?.op;
  return op && 'UpsertNode' in op ? op.UpsertNode.properties : undefined;
};

beforeAll(async () => {
  pool = createPgPool(base, { max: 2 });
  await migrate(pool);
  publisher = createPublisher({ kafka, serde, logger });
  await publisher.connect();
});
afterEach(async () => { await running?.stop(); running = undefined; });
afterAll(async () => {
  await publisher?.disconnect();
  await pool?.query('DELETE FROM market_events WHERE id = ANY($1)', [ids]).catch(() => {});
  await pool?.query('DELETE FROM event_classifications WHERE event_id = ANY($1)', [ids]).catch(() => {});
  await pool?.end();
  await deleteTestTopics(kafka, topicNames);
});

describe('enricher: market-events → graph-mutations', () => {
  it('classifies with the rules without an API key: MarketEvent node and AFFECTS per company, enrichment in market_events', async () => {
    const run = isolated();
    await run.start();
    const events = [
      newEvent('Apple unveils new iPhone lineup, shares climb', ['AAPL']),
      newEvent('Microsoft downgraded as Nvidia chip shortage hits cloud growth', ['MSFT', 'NVDA']),
    ];
    await publisher.send(run.events, events, { source: 'test' });
    const rows = await waitEnriched(events.map((e) => e.id));
    expect(rows.every((r) => r.classifier === 'rules' && r.model === 'rules-v1')).toBe(true);
    expect(rows.find((r) => r.id === events[0]!.id)).toMatchObject({ type: 'product', sentiment: 'positive' });

    const affected = await Promise.all(events.map((e) => storedAffected(e.id)));
    expect(affected[0]).toContain('AAPL');
    expect(affected[1]).toEqual(expect.arrayContaining(['MSFT', 'NVDA']));
    const out = await readMutations(run.mutations, affected.reduce((n, a) => n + 1 + a.length, 0));
    expectWellFormed(out);
    expect(out.map((o) => o.key).sort()).toEqual(events.flatMap((e, i) => [`MarketEvent:${e.id}`, ...affected[i]!.map((s) => `AFFECTS:${e.id}:${s}`)]).sort());
    expect(nodeProps(out, events[0]!.id)).toMatchObject({ type: 'product', sentiment: 'positive', classifier: 'rules', model: 'rules-v1', headline: events[0]!.headline, published_at: '2026-11-20T14:30:00.000Z' });
  });

  describe('with Claude', () => {
    let fake: FakeAnthropic;
    beforeAll(async () => { fake = await startFakeAnthropic(); });
    afterAll(async () => { await fake?.close(); });

    it('publishes Claude\'s classification, and a replay of market-events republishes it without asking Claude again', async () => {
      fake.setDefault(() => toolUseResponse({
        type: 'product', sentiment: 'positive', sentiment_score: 0.6,
        affected: [{ symbol: 'AAPL', relevance: 0.9 }, { symbol: 'TSM', relevance: 0.4 }],
        rationale: 'A new product launch that supports Apple sales.',
      }));
      const run = isolated({ ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1 });
      await run.start();
      const events = [newEvent('Apple launches new MacBook Pro', ['AAPL']), newEvent('Apple unveils AR headset', ['AAPL']), newEvent('Apple debuts iPhone 18', ['AAPL'])];
      await publisher.send(run.events, events, { source: 'test' });
      const rows = await waitEnriched(events.map((e) => e.id));
      expect(rows.every((r) => r.classifier === 'claude' && r.model === run.config.ANTHROPIC_MODEL && r.sentiment_score === 0.6)).toBe(true);
      expect(fake.requests).toHaveLength(3);
      // Tokens, cost and outcome of each call reach the process metrics (/metrics) through the registry's onCall.
      expect(await processMetrics().scrape()).toMatch(new RegExp(`marketstream_claude_requests_total\\{model="${run.config.ANTHROPIC_MODEL}",outcome="ok"\\} 3\\n`));

      const out = await readMutations(run.mutations, 9);
      expectWellFormed(out);
      for (const e of events) {
        expect(nodeProps(out, e.id)).toMatchObject({ classifier: 'claude', model: run.config.ANTHROPIC_MODEL, type: 'product', sentiment_score: 0.6, rationale: 'A new product launch that supports Apple sales.' });
        const rel = out.find((o) => o.key === `AFFECTS:${e.id}:TSM`)?.value?.op;
        expect(rel && 'UpsertRelationship' in rel ? rel.UpsertRelationship.properties : null).toEqual({ relevance: 0.4 });
      }

      // Replay: stop the group, rewind it to the earliest offsets, start it again.
      await run.stop();
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.resetOffsets({ groupId: groupIdOf(run.config, 'enricher'), topic: run.events.name, earliest: true });
      } finally {
        await admin.disconnect();
      }
      await run.start();
      const replayed = await readMutations(run.mutations, 18);
      expectWellFormed(replayed);
      expect(replayed.filter((o) => o.key === `MarketEvent:${events[0]!.id}`)).toHaveLength(2);
      expect(fake.requests).toHaveLength(3); // every answer came from the cache
    });

    it('withdraws a deleted event: AFFECTS deletes, a MarketEvent tombstone, and its market_events row removed', async () => {
      fake.setDefault(() => toolUseResponse({
        type: 'legal', sentiment: 'negative', sentiment_score: -0.5, affected: [{ symbol: 'MSFT', relevance: 1 }], rationale: 'A lawsuit against Microsoft.',
      }));
      const run = isolated({ ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1 });
      await run.start();
      const e = newEvent('Microsoft sued over licensing', ['MSFT']);
      await publisher.send(run.events, [e], { source: 'test' });
      await waitEnriched([e.id]);
      await publisher.sendTombstone(run.events, e.id, { source: 'test' });

      const out = await readMutations(run.mutations, 4);
      expect(out.map((o) => o.key).sort()).toEqual([`AFFECTS:${e.id}:MSFT`, `AFFECTS:${e.id}:MSFT`, `MarketEvent:${e.id}`, `MarketEvent:${e.id}`]);
      const deletes = out.filter((o) => o.value && 'DeleteRelationship' in o.value.op);
      expect(deletes.map((o) => o.key)).toEqual([`AFFECTS:${e.id}:MSFT`]);
      expectWellFormed(deletes);
      const tombstones = out.filter((o) => o.value === null);
      expect(tombstones.map((o) => o.key)).toEqual([`MarketEvent:${e.id}`]);
      await waitFor(async () => (await pool.query('SELECT 1 FROM market_events WHERE id = $1', [e.id])).rowCount === 0, { what: 'the market_events row deleted' });
    });
  });
});
