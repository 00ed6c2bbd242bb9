// market-events → PostgreSQL market_events (lib/stores/migrations/003_market_events.sql).
//
// - The postgres-sink's handler: per batch, the last record of each key decides (a value upserts the row, a tombstone
//   deletes it), all in ONE statement (a DELETE in a CTE, then an unnest upsert). A replay finds identical rows and the
//   WHERE clause skips them; ingested_at keeps the first ingestion of the article.
// - Enrichment: the enricher calls writeEnrichment() after classifying; it upserts the whole row, so whichever of the
//   sink and the enricher comes first creates it and ON CONFLICT serializes the other (no lost update). When the sink
//   inserts a row whose event is already in event_classifications (a rebuild replaying the log), it copies the
//   enrichment from there, so a rebuild reproduces the enriched rows without asking the enricher again.
import type { Classification } from '../enricher/types.ts';
import { classifyPgError, type Pool } from '../../lib/stores/postgres.ts';
import { validateMarketEvent } from '../../topics/market-event.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { marketEvents, type TopicDef } from '../../topics/index.ts';
import type { SinkRecord, TopicHandler } from '../types.ts';

const EVENT_COLUMNS = 'id, symbols, headline, summary, source, url, published_at, category, ingested_at';
const ENRICHMENT_COLUMNS = 'type, sentiment, sentiment_score, rationale, classifier, model, enriched_at';
const EVENT_ROWS = `unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[], $10::float8[])`;
const EVENT_VALUES = `u.id, string_to_array(u.sym, ','), u.head, u.summ, u.src, u.url, to_timestamp(u.pub / 1000.0), u.cat, to_timestamp(u.ing / 1000.0)`;
const EVENT_ALIASES = 'u(id, sym, head, summ, src, url, pub, cat, ing)';

const SINK_WRITE = `
WITH gone AS (DELETE FROM market_events WHERE id = ANY($1::text[]))
INSERT INTO market_events AS m (${EVENT_COLUMNS}, ${ENRICHMENT_COLUMNS})
SELECT ${EVENT_VALUES},
  c.classification->>'type', c.classification->>'sentiment', (c.classification->>'sentimentScore')::float8,
  c.classification->>'rationale', c.classifier, c.model, c.updated_at
FROM ${EVENT_ROWS} AS ${EVENT_ALIASES}
LEFT JOIN event_classifications c ON c.event_id = u.id
ON CONFLICT (id) DO UPDATE SET
  symbols = EXCLUDED.symbols, headline = EXCLUDED.headline, summary = EXCLUDED.summary, source = EXCLUDED.source,
  url = EXCLUDED.url, published_at = EXCLUDED.published_at, category = EXCLUDED.category,
  ingested_at = LEAST(m.ingested_at, EXCLUDED.ingested_at),
  type = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.type ELSE m.type END,
  sentiment = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.sentiment ELSE m.sentiment END,
  sentiment_score = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.sentiment_score ELSE m.sentiment_score END,
  rationale = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.rationale ELSE m.rationale END,
  classifier = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.classifier ELSE m.classifier END,
  model = CASE WHEN m.enriched_at IS NULL THEN EXCLUDED.model ELSE m.model END,
  enriched_at = COALESCE(m.enriched_at, EXCLUDED.enriched_at)
WHERE (m.symbols, m.headline, m.summary, m.source, m.url, m.published_at, m.category)
    IS DISTINCT FROM (EXCLUDED.symbols, EXCLUDED.headline, EXCLUDED.summary, EXCLUDED.source, EXCLUDED.url, EXCLUDED.published_at, EXCLUDED.category)
  OR EXCLUDED.ingested_at < m.ingested_at
  OR (m.enriched_at IS NULL AND EXCLUDED.enriched_at IS NOT NULL)`;

const ENRICHER_WRITE = `
WITH gone AS (DELETE FROM market_events WHERE id = ANY($1::text[]))
INSERT INTO market_events AS m (${EVENT_COLUMNS}, ${ENRICHMENT_COLUMNS})
SELECT ${EVENT_VALUES}, u.typ, u.sent, u.score, u.rat, u.cls, u.mdl, now()
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[], $10::float8[],
  $11::text[], $12::text[], $13::float8[], $14::text[], $15::text[], $16::text[])
  AS u(id, sym, head, summ, src, url, pub, cat, ing, typ, sent, score, rat, cls, mdl)
ON CONFLICT (id) DO UPDATE SET
  type = EXCLUDED.type, sentiment = EXCLUDED.sentiment, sentiment_score = EXCLUDED.sentiment_score,
  rationale = EXCLUDED.rationale, classifier = EXCLUDED.classifier, model = EXCLUDED.model, enriched_at = EXCLUDED.enriched_at
WHERE (m.type, m.sentiment, m.sentiment_score, m.rationale, m.classifier, m.model)
  IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.sentiment, EXCLUDED.sentiment_score, EXCLUDED.rationale, EXCLUDED.classifier, EXCLUDED.model)`;

/** The parameters $2..$10 of the event columns, one array per column. */
function eventParams(events: readonly MarketEvent[]): unknown[] {
  const col = <K extends keyof MarketEvent>(k: K) => events.map((e) => e[k]);
  return [col('id'), events.map((e) => e.symbols.join(',')), col('headline'), col('summary'), col('source'), col('url'),
    col('publishedAt'), col('category'), col('ingestTime')];
}

/** What a batch leaves behind per key, in offset order: the last value of a key, or its deletion. */
export function lastStatePerKey(records: readonly SinkRecord<MarketEvent>[]): { upserts: MarketEvent[]; deletes: string[] } {
  const last = new Map<string, MarketEvent | null>();
  for (const r of records) {
    const key = r.value?.id ?? r.key;
    if (key === null) continue; // a tombstone without a key names nothing
    last.delete(key); // keep the map in the order of each key's last record
    last.set(key, r.value);
  }
  const upserts: MarketEvent[] = [];
  const deletes: string[] = [];
  for (const [key, v] of last) if (v) upserts.push(v); else deletes.push(key);
  return { upserts, deletes };
}

/** The postgres-sink's handler for market-events (or an override); `db` gives the sink's pool. */
export function marketEventsHandler(topic: TopicDef<MarketEvent> | undefined, db: () => Pool): TopicHandler<MarketEvent> {
  return {
    topic: topic ?? marketEvents,
    acceptsTombstones: true,
    validate: (v) => validateMarketEvent(v, Date.now()),
    async writeBatch(records) {
      const { upserts, deletes } = lastStatePerKey(records);
      await db().query(SINK_WRITE, [deletes, ...eventParams(upserts)]).catch((err) => { throw classifyPgError(err); });
    },
  };
}

export interface EnrichedEvent {
  event: MarketEvent;
  classification: Classification;
}

/** The enricher's write: the classification of each event (creating the row if needed), and deleted events' rows removed. */
export async function writeEnrichment(pool: Pool, enriched: readonly EnrichedEvent[], deletedIds: readonly string[] = []): Promise<void> {
  if (!enriched.length && !deletedIds.length) return;
  const col = <K extends keyof Classification>(k: K) => enriched.map((x) => x.classification[k] ?? null);
  await pool.query(ENRICHER_WRITE, [deletedIds, ...eventParams(enriched.map((x) => x.event)),
    col('type'), col('sentiment'), col('sentimentScore'), col('rationale'), col('classifier'), col('model')])
    .catch((err) => { throw classifyPgError(err); });
}
