// postgres-sink on market-events against the real Kafka, registry and PostgreSQL (isolated topics, random group):
// events land in market_events; redelivering them rewrites nothing; a later duplicate of an article keeps the first
// ingestion time; a tombstone deletes the row; an event already classified (a rebuild) gets its enrichment columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../../consumers/registry.ts';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { totalLag } from '../../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { MarketEvent } from '../../../schemas/types.generated.ts';
import { marketEvents, priceUpdates, withName } from '../../../topics/index.ts';
import { deleteTestTopics, randomName, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const logger = testLogger('postgres-market-events');
const base = testConfig();
const config: Config = { ...base, KAFKA_GROUP_PREFIX: randomName('test'), SINK_RETRY_MAX_MS: 1000 };
const kafka = testKafka(config);
const topics = { prices: withName(priceUpdates, randomName('test-prices')), events: withName(marketEvents, randomName('test-events')) };
const ids: string[] = [];
let pool: Pool;
let publisher: Publisher;
let sinks: RunningSinks | undefined;

const T0 = Date.UTC(2026, 10, 20, 14, 30);
function newEvent(over: Partial<MarketEvent> = {}): MarketEvent {
  const id = randomName('evt');
  ids.push(id);
  return {
    id, symbols: ['AAPL', 'MSFT'], headline: `Apple and Microsoft news ${id}`, summary: 'Both rose.', source: 'Test Wire',
    url: `https://example.com/${id}`, publishedAt: T0, category: 'Markets', ingestTime: T0 + 60_000, ...over,
  };
}

async function rows(eventIds: string[]) {
  const { rows: r } = await pool.query(
    `SELECT id, symbols, headline, summary, source, url, published_at, category, ingested_at,
            type, sentiment, sentiment_score, rationale, classifier, model, enriched_at IS NOT NULL AS enriched, xmin::text AS version
     FROM market_events WHERE id = ANY($1) ORDER BY id`, [eventIds]);
  return r;
}
const caughtUp = async () => (await totalLag(kafka, groupIdOf(config, 'postgres'), [topics.events.name])) === 0;

beforeAll(async () => {
  pool = createPgPool(base, { max: 2 });
  await migrate(pool);
  publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  await publisher.connect();
  sinks = await startSinks({ config, logger, names: ['postgres'], topics });
});
afterAll(async () => {
  await sinks?.stop();
  await publisher?.disconnect();
  await pool?.query('DELETE FROM market_events WHERE id = ANY($1)', [ids]).catch(() => {});
  await pool?.query('DELETE FROM event_classifications WHERE event_id = ANY($1)', [ids]).catch(() => {});
  await pool?.end();
  await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
});

describe('postgres-sink: market-events → market_events', () => {
  it('materializes events, and redelivering them rewrites nothing', async () => {
    const events = [newEvent(), newEvent({ summary: null, url: null, category: null, symbols: [] }), newEvent({ symbols: ['NVDA'] })];
    await publisher.send(topics.events, events, { source: 'test' });
    const keys = events.map((e) => e.id);
    const first = await waitFor(async () => { const r = await rows(keys); return r.length === 3 ? r : null; }, { what: '3 market_events rows' });
    const byId = new Map(first.map((r) => [r.id, r]));
    expect(byId.get(events[0]!.id)).toMatchObject({
      symbols: ['AAPL', 'MSFT'], headline: events[0]!.headline, summary: 'Both rose.', source: 'Test Wire', url: events[0]!.url,
      published_at: new Date(T0), category: 'Markets', ingested_at: new Date(T0 + 60_000), type: null, classifier: null, enriched: false,
    });
    expect(byId.get(events[1]!.id)).toMatchObject({ symbols: [], summary: null, url: null, category: null });

    await publisher.send(topics.events, events, { source: 'test' });
    await waitFor(caughtUp, { what: 'the redelivery consumed' });
    expect(await rows(keys)).toEqual(first);
  });

  it('keeps the first ingestion of an article published twice, applies a correction, and deletes on a tombstone', async () => {
    const e = newEvent();
    await publisher.send(topics.events, [e], { source: 'test' });
    await waitFor(async () => (await rows([e.id])).length === 1, { what: 'the row' });

    await publisher.send(topics.events, [{ ...e, headline: 'Corrected headline', ingestTime: e.ingestTime + 3_600_000 }], { source: 'test' });
    const [corrected] = await waitFor(async () => { const r = await rows([e.id]); return r[0]?.headline === 'Corrected headline' ? r : null; }, { what: 'the correction' });
    expect(corrected.ingested_at).toEqual(new Date(e.ingestTime));

    await publisher.sendTombstone(topics.events, e.id, { source: 'test' });
    await waitFor(async () => (await rows([e.id])).length === 0, { what: 'the row deleted' });
  });

  it('fills the enrichment of an event already classified (a rebuild replaying the log)', async () => {
    const e = newEvent();
    const classification = { type: 'product', sentiment: 'positive', sentimentScore: 0.5, affected: [{ symbol: 'AAPL', relevance: 0.9 }], rationale: 'A launch.', classifier: 'rules', model: 'rules-v1' };
    await pool.query(`INSERT INTO event_classifications (event_id, classification, classifier, model) VALUES ($1, $2::jsonb, 'rules', 'rules-v1')`, [e.id, JSON.stringify(classification)]);
    await publisher.send(topics.events, [e], { source: 'test' });
    const [row] = await waitFor(async () => { const r = await rows([e.id]); return r.length === 1 ? r : null; }, { what: 'the enriched row' });
    expect(row).toMatchObject({ type: 'product', sentiment: 'positive', sentiment_score: 0.5, rationale: 'A launch.', classifier: 'rules', model: 'rules-v1', enriched: true });
  });
});
