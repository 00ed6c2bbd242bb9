// postgres-sink on market-events against the real Kafka, registry and PostgreSQL (isolated topics, random group):
// the sink contract (events land in market_events with every column; redelivery and replay rewrite no row; bad records
// to the DLQ; a tombstone deletes the row; a PostgreSQL outage pauses the group), plus: a later duplicate of an article
// keeps the first ingestion time and applies the correction, and an event already classified (a rebuild) gets its
// enrichment columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import { deleteEventRows, EVENT_T0, eventFactory, waitFor } from '../../helpers/index.ts';
import { sinkUnderTest } from '../contract/harness.ts';
import { sinkContract } from '../contract/suite.ts';

describe('postgres-sink: market-events → market_events', () => {
  const sut = sinkUnderTest('postgres');
  const { ids, newEvent } = eventFactory();
  let pool: Pool;

  /**
   * The rows of these events with every column, and (unless `versions` is false) xmin, which changes whenever a row is
   * rewritten, and the version of the record that wrote it.
   */
  async function rows(eventIds: readonly string[], versions = true) {
    const { rows: r } = await pool.query(
      `SELECT id, symbols, headline, summary, source, url, published_at, category, ingested_at,
              type, sentiment, sentiment_score, rationale, classifier, model, enriched_at IS NOT NULL AS enriched
              ${versions ? ', xmin::text AS xmin, version::text AS version' : ''}
       FROM market_events WHERE id = ANY($1) ORDER BY id`, [eventIds]);
    return r;
  }

  beforeAll(async () => {
    pool = createPgPool(sut.base, { max: 2 });
    await migrate(pool);
  });
  afterAll(async () => {
    await deleteEventRows(pool, ids);
    await pool?.end();
  });

  sinkContract(sut, {
    noun: 'market event',
    topic: 'events',
    tombstones: 'delete',
    scenario(size) {
      const events = size === 'few' ? [newEvent(), newEvent()]
        : [newEvent(), newEvent({ summary: null, url: null, category: null, symbols: [] }), newEvent({ symbols: ['NVDA'] }), newEvent(), newEvent()];
      const keys = events.map((e) => e.id);
      return {
        records: events, keys,
        landed: async () => (await rows(keys)).length === keys.length,
        held: async () => (await rows(keys)).map((r) => r.id as string).sort(),
        snapshot: () => rows(keys),
        values: () => rows(keys, false),
        async verify() {
          const byId = new Map((await rows(keys)).map((r) => [r.id, r]));
          expect(byId.get(keys[0])).toMatchObject({
            symbols: ['AAPL', 'MSFT'], headline: events[0]!.headline, summary: 'Both rose.', source: 'Test Wire', url: events[0]!.url,
            published_at: new Date(EVENT_T0), category: 'Markets', ingested_at: new Date(EVENT_T0 + 60_000), type: null, classifier: null, enriched: false,
          });
          expect(byId.get(keys[1])).toMatchObject({ symbols: [], summary: null, url: null, category: null });
        },
      };
    },
    invalid: () => ({ value: { ...newEvent(), id: 'not an id!' }, reason: /is not an event id/ }),
  });

  it('keeps the first ingestion of an article published twice, and applies a correction', async () => {
    await sut.start();
    const e = newEvent();
    await sut.publisher.send(sut.topics.events, [e], { source: 'test' });
    await waitFor(async () => (await rows([e.id])).length === 1, { what: 'the row' });

    await sut.publisher.send(sut.topics.events, [{ ...e, headline: 'Corrected headline', ingestTime: e.ingestTime + 3_600_000 }], { source: 'test' });
    const [corrected] = await waitFor(async () => { const r = await rows([e.id]); return r[0]?.headline === 'Corrected headline' ? r : null; },
      { what: 'the correction' });
    expect(corrected.ingested_at).toEqual(new Date(e.ingestTime));
  });

  it('fills the enrichment of an event already classified (a rebuild replaying the log)', async () => {
    await sut.start();
    const e = newEvent();
    const classification = { type: 'product', sentiment: 'positive', sentimentScore: 0.5, affected: [{ symbol: 'AAPL', relevance: 0.9 }],
      rationale: 'A launch.', classifier: 'rules', model: 'rules-v1' };
    await pool.query(`INSERT INTO event_classifications (event_id, classification, classifier, model) VALUES ($1, $2::jsonb, 'rules', 'rules-v1')`,
      [e.id, JSON.stringify(classification)]);
    await sut.publisher.send(sut.topics.events, [e], { source: 'test' });
    const [row] = await waitFor(async () => { const r = await rows([e.id]); return r.length === 1 ? r : null; }, { what: 'the enriched row' });
    expect(row).toMatchObject({ type: 'product', sentiment: 'positive', sentiment_score: 0.5, rationale: 'A launch.', classifier: 'rules',
      model: 'rules-v1', enriched: true });
  });
});
