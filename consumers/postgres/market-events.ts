// market-events → PostgreSQL market_events (lib/stores/migrations/003_market_events.sql).
//
// - The postgres-sink's handler: per batch, the newest record of each key decides (a value upserts the row, a tombstone
//   deletes it), all in ONE statement (CTEs, then an unnest upsert). Newest wins (migration 007): a row keeps the version
//   of the record that wrote it and an upsert applies only over an older one; a tombstone leaves its version in
//   market_event_tombstones and deletes only a row older than it, so an older upsert (a stale writer, a redrive) never
//   revives what it deleted, and a newer one does (removing the tombstone). A replay (equal versions) rewrites nothing;
//   ingested_at keeps the first ingestion of the article. Records without a version (built by hand): last write wins.
// - Two writers of the same events at once (a member that lost the partition while its write was in flight, and the
//   new owner): the statement reads tombstones and rows, which a concurrent writer may be changing, so each write first
//   takes transaction advisory locks on the buckets of its ids (sorted: no deadlock), and the statement, taking its
//   snapshot after them, sees whatever the other writer committed.
// - Enrichment: the enricher calls writeEnrichment() after classifying; it upserts the whole row, so whichever of the
//   sink and the enricher comes first creates it and ON CONFLICT serializes the other (no lost update). When the sink
//   inserts a row whose event is already in event_classifications (a rebuild replaying the log), it copies the
//   enrichment from there, so a rebuild reproduces the enriched rows without asking the enricher again.
import type pg from 'pg';
import type { Classification } from '../enricher/types.ts';
import { classifyPgError, type Pool } from '../../lib/stores/postgres.ts';
import { validateMarketEvent } from '../../topics/market-event.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { marketEvents, type TopicDef } from '../../topics/index.ts';
import type { SinkRecord, TopicHandler, WriteResult } from '../types.ts';
import { newestPerKey } from '../versions.ts';
import { inTransaction } from './transaction.ts';

const EVENT_COLUMNS = 'id, symbols, headline, summary, source, url, published_at, category, ingested_at';
const ENRICHMENT_COLUMNS = 'type, sentiment, sentiment_score, rationale, classifier, model, enriched_at';
const EVENT_VALUES = `u.id, string_to_array(u.sym, ','), u.head, u.summ, u.src, u.url, to_timestamp(u.pub / 1000.0), u.cat, to_timestamp(u.ing / 1000.0)`;
const EVENT_ALIASES = 'u(id, sym, head, summ, src, url, pub, cat, ing)';

/** $1, $2: ids and versions of the deletes; $3..$11 the event columns of the upserts, $12 their versions. */
const SINK_WRITE = `
WITH d AS (SELECT * FROM unnest($1::text[], $2::int8[]) AS d(id, version)),
tomb AS (
  INSERT INTO market_event_tombstones AS t (id, version, deleted_at)
  SELECT d.id, d.version, now() FROM d
  WHERE d.version IS NOT NULL AND NOT EXISTS (SELECT 1 FROM market_events m WHERE m.id = d.id AND m.version >= d.version)
  ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at WHERE EXCLUDED.version > t.version
  RETURNING t.id),
gone AS (
  DELETE FROM market_events m USING d
  WHERE m.id = d.id AND (d.version IS NULL OR m.version IS NULL OR m.version < d.version)),
u AS (
  SELECT u.* FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::float8[], $10::text[], $11::float8[],
    $12::int8[]) AS ${EVENT_ALIASES.replace(')', ', ver)')}
  LEFT JOIN market_event_tombstones t ON t.id = u.id
  WHERE u.ver IS NULL OR t.version IS NULL OR u.ver > t.version),
revived AS (DELETE FROM market_event_tombstones t USING u WHERE t.id = u.id),
written AS (
  INSERT INTO market_events AS m (${EVENT_COLUMNS}, ${ENRICHMENT_COLUMNS}, version)
  SELECT ${EVENT_VALUES},
    c.classification->>'type', c.classification->>'sentiment', (c.classification->>'sentimentScore')::float8,
    c.classification->>'rationale', c.classifier, c.model, c.updated_at, u.ver
  FROM u LEFT JOIN event_classifications c ON c.event_id = u.id
  ORDER BY u.id
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
    enriched_at = COALESCE(m.enriched_at, EXCLUDED.enriched_at),
    version = EXCLUDED.version
  WHERE CASE WHEN EXCLUDED.version IS NOT NULL THEN m.version IS NULL OR EXCLUDED.version > m.version
    ELSE (m.symbols, m.headline, m.summary, m.source, m.url, m.published_at, m.category)
      IS DISTINCT FROM (EXCLUDED.symbols, EXCLUDED.headline, EXCLUDED.summary, EXCLUDED.source, EXCLUDED.url, EXCLUDED.published_at, EXCLUDED.category)
      OR EXCLUDED.ingested_at < m.ingested_at
      OR (m.enriched_at IS NULL AND EXCLUDED.enriched_at IS NOT NULL) END
  RETURNING m.version)
SELECT (SELECT count(*) FROM tomb)::int + (SELECT count(*) FROM written WHERE version IS NOT NULL)::int AS applied`;

// Rows the sink wrote (versioned) are the sink's to delete and to revive: the enricher removes only rows it created
// (no version) and never creates one over a tombstone (the sink's newer upsert, if any, removes it and fills the
// enrichment from event_classifications).
const ENRICHER_WRITE = `
WITH gone AS (DELETE FROM market_events WHERE id = ANY($1::text[]) AND version IS NULL)
INSERT INTO market_events AS m (${EVENT_COLUMNS}, ${ENRICHMENT_COLUMNS})
SELECT ${EVENT_VALUES}, u.typ, u.sent, u.score, u.rat, u.cls, u.mdl, now()
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[], $10::float8[],
  $11::text[], $12::text[], $13::float8[], $14::text[], $15::text[], $16::text[])
  AS u(id, sym, head, summ, src, url, pub, cat, ing, typ, sent, score, rat, cls, mdl)
WHERE NOT EXISTS (SELECT 1 FROM market_event_tombstones t WHERE t.id = u.id)
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

/**
 * What a batch leaves behind per key: the newest record of each key (../versions.ts) decides, a value upserting, a
 * tombstone deleting; with the version of each (null: unversioned), and how many records a newer one of their key in
 * the batch made stale.
 */
export function lastStatePerKey(records: readonly SinkRecord<MarketEvent>[]): {
  upserts: MarketEvent[]; upsertVersions: (number | null)[]; deletes: string[]; deleteVersions: (number | null)[]; stale: number;
} {
  const { kept, stale } = newestPerKey(records, (r) => r.value?.id ?? r.key); // a tombstone without a key names nothing
  const out = {
    upserts: [] as MarketEvent[], upsertVersions: [] as (number | null)[], deletes: [] as string[], deleteVersions: [] as (number | null)[], stale,
  };
  for (const r of kept) {
    if (r.value) { out.upserts.push(r.value); out.upsertVersions.push(r.version ?? null); }
    else { out.deletes.push(r.key!); out.deleteVersions.push(r.version ?? null); }
  }
  return out;
}

/** Advisory lock buckets of the events: few enough that a batch takes a handful of locks, sorted so two writers never deadlock. */
const LOCK_SPACE = 4242019;
const LOCK_BUCKETS = 64;
export function lockBuckets(ids: readonly string[]): number[] {
  const buckets = new Set<number>();
  for (const id of ids) {
    let h = 2166136261; // FNV-1a
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
    buckets.add((h >>> 0) % LOCK_BUCKETS);
  }
  return [...buckets].sort((a, b) => a - b);
}

/** Takes (for the transaction) the advisory locks of these events' buckets, in order. */
async function lockEvents(client: pg.PoolClient, ids: readonly string[]): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, b) FROM unnest($2::int[]) AS b', [LOCK_SPACE, lockBuckets(ids)]);
}

/** The sink's write of one batch, in a transaction holding the advisory locks of its ids' buckets. */
async function writeEvents(pool: Pool, records: readonly SinkRecord<MarketEvent>[]): Promise<WriteResult> {
  const { upserts, upsertVersions, deletes, deleteVersions, stale } = lastStatePerKey(records);
  if (!upserts.length && !deletes.length) return { stale };
  const versioned = [...upsertVersions, ...deleteVersions].filter((v) => v !== null).length;
  const applied = await inTransaction(pool, async (client) => {
    await lockEvents(client, [...upserts.map((e) => e.id), ...deletes]);
    const params = [deletes, deleteVersions, ...eventParams(upserts), upsertVersions];
    return (await client.query<{ applied: number }>(SINK_WRITE, params)).rows[0]!.applied;
  }).catch((err) => { throw classifyPgError(err); });
  return { stale: stale + versioned - applied };
}

/** The postgres-sink's handler for market-events (or an override); `db` gives the sink's pool. */
export function marketEventsHandler(topic: TopicDef<MarketEvent> | undefined, db: () => Pool): TopicHandler<MarketEvent> {
  return {
    topic: topic ?? marketEvents,
    acceptsTombstones: true,
    validate: (v) => validateMarketEvent(v, Date.now()),
    writeBatch: (records) => writeEvents(db(), records),
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
  // Under the same advisory locks as the postgres-sink's write of these events: a row it creates for an event can
  // never slip past a tombstone the sink records at the same moment (neither would see the other's uncommitted row).
  await inTransaction(pool, async (client) => {
    await lockEvents(client, [...enriched.map((x) => x.event.id), ...deletedIds]);
    await client.query(ENRICHER_WRITE, [deletedIds, ...eventParams(enriched.map((x) => x.event)),
      col('type'), col('sentiment'), col('sentimentScore'), col('rationale'), col('classifier'), col('model')]);
  }).catch((err) => { throw classifyPgError(err); });
}
