// Asking Claude again about events already classified (`marketstream enrich reclassify`, ops/enrich/reclassify.ts):
// which cached classifications to select, and how a new answer is applied, with the enricher's own pieces.
//
// - Selection: rows of event_classifications made by the rule-based classifier (no API key, budget spent, API errors
//   at the time), and/or by a Claude model other than the one chosen now, joined with market_events for the text
//   Claude needs (headline, summary, symbols, source, published time). A row made by the chosen model (or a dated
//   snapshot of it: `claude-haiku-4-5` answers as `claude-haiku-4-5-20251001`) is never selected, so a second run
//   asks nothing about what the first one did.
// - Applying Claude's answers (never a rule-based fallback): the market_events enrichment row (writeEnrichment), the
//   graph facts published as the enricher publishes them (the MarketEvent node and AFFECTS, linked only to companies
//   the event names or the graph holds; AFFECTS the earlier answer had and this one has not are deleted), and LAST
//   the cache row, which is the commit point: if anything before fails, the event is still selected next time.
//   The enricher answers from the cache whatever model made it, so a replay after this never bills Claude.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger.ts';
import type { Publisher } from '../../lib/publisher.ts';
import type { Driver } from '../../lib/stores/neo4j.ts';
import { classifyPgError, type Pool } from '../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import { writeEnrichment } from '../postgres/market-events.ts';
import type { ClassificationStore } from './cache.ts';
import { linkToKnownCompanies } from './links.ts';
import { deletionMutations, enrichmentMutations } from './mutations.ts';
import { classificationSchema, type Classification } from './types.ts';

/** Who made the cached classifications to ask about again. */
export type ReclassifyFrom = 'rules' | 'claude' | 'any';

export interface ReclassifySelection {
  /** 'rules': the rule-based classifier's; 'claude': another Claude model's than `model`; 'any': both. */
  from: ReclassifyFrom;
  /** The Claude model to ask. */
  model: string;
  /** Only events published at or after this time (epoch ms). */
  since?: number;
  /** Only events naming one of these symbols. */
  symbols?: readonly string[];
}

/** An event to ask about again, with the classification it has now. */
export interface Candidate {
  event: MarketEvent;
  current: Classification;
}

export interface CandidatePage {
  candidates: Candidate[];
  /** Where the next page starts (newest first), or null at the end. */
  next: string | null;
}

const SELECT = `
SELECT m.id, m.symbols, m.headline, m.summary, m.source, m.url, m.category,
  round(extract(epoch FROM m.published_at) * 1000)::float8 AS published_ms,
  round(extract(epoch FROM m.ingested_at) * 1000)::float8 AS ingested_ms,
  m.published_at::text AS cursor_at, c.classification
FROM event_classifications c JOIN market_events m ON m.id = c.event_id
WHERE ($1::text = 'any' OR c.classifier = $1::text)
  AND NOT (c.classifier = 'claude' AND c.model IS NOT NULL AND (c.model = $2::text OR c.model ~ $3::text))
  AND ($4::timestamptz IS NULL OR m.published_at >= $4::timestamptz)
  AND ($5::text[] IS NULL OR m.symbols && $5::text[])
  AND ($6::text[] IS NULL OR m.id = ANY($6::text[]))
  AND ($7::timestamptz IS NULL OR (m.published_at, m.id) < ($7::timestamptz, $8::text))
ORDER BY m.published_at DESC, m.id DESC
LIMIT $9`;

interface Row {
  id: string; symbols: string[]; headline: string; summary: string | null; source: string; url: string | null; category: string | null;
  published_ms: number; ingested_ms: number; cursor_at: string; classification: unknown;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Rows made by `model` itself or by a dated snapshot of it (`<model>-YYYYMMDD`). */
export const snapshotPattern = (model: string) => `^${escapeRegex(model)}-[0-9]{8}$`;

function params(sel: ReclassifySelection, o: { ids?: readonly string[]; after?: string | null; limit: number }): unknown[] {
  const [at, id] = o.after ? splitCursor(o.after) : [null, null];
  return [sel.from, sel.model, snapshotPattern(sel.model), sel.since === undefined ? null : new Date(sel.since),
    sel.symbols?.length ? [...sel.symbols] : null, o.ids ? [...o.ids] : null, at, id, o.limit];
}

const cursorOf = (r: Row) => `${r.cursor_at}\u0000${r.id}`;
const splitCursor = (c: string) => c.split('\u0000') as [string, string];

function toCandidate(r: Row, logger?: Logger): Candidate | null {
  const current = classificationSchema.safeParse(r.classification);
  if (!current.success) {
    logger?.warn({ eventId: r.id }, 'cached classification is not valid: skipped (the enricher classifies it again when it sees the event)');
    return null;
  }
  return {
    event: {
      id: r.id, symbols: r.symbols, headline: r.headline, summary: r.summary, source: r.source, url: r.url,
      publishedAt: r.published_ms, category: r.category, ingestTime: r.ingested_ms,
    },
    current: current.data,
  };
}

/** One page of the selection, newest events first; pass `next` back to read on. */
export async function selectCandidates(
  pool: Pool, sel: ReclassifySelection, o: { after?: string | null; pageSize: number; logger?: Logger },
): Promise<CandidatePage> {
  const { rows } = await pool.query<Row>(SELECT, params(sel, { after: o.after ?? null, limit: o.pageSize })).catch((err) => { throw classifyPgError(err); });
  return {
    candidates: rows.map((r) => toCandidate(r, o.logger)).filter((c): c is Candidate => c !== null),
    next: rows.length === o.pageSize ? cursorOf(rows[rows.length - 1]!) : null,
  };
}

/** These events, if they are still selected (another run may have reclassified them meanwhile). */
export async function candidatesByIds(pool: Pool, sel: ReclassifySelection, ids: readonly string[], logger?: Logger): Promise<Candidate[]> {
  if (!ids.length) return [];
  const { rows } = await pool.query<Row>(SELECT, params(sel, { ids, limit: ids.length })).catch((err) => { throw classifyPgError(err); });
  return rows.map((r) => toCandidate(r, logger)).filter((c): c is Candidate => c !== null);
}

export interface Reclassified extends Candidate {
  /** Claude's answer. */
  classification: Classification;
}

export interface ApplyDeps {
  pool: Pool;
  store: ClassificationStore;
  graph: () => Driver;
  /** NEO4J_DATABASE; undefined = the server's default. */
  database: string | undefined;
  publisher: Publisher;
  mutationsTopic: TopicDef<GraphMutation>;
  logger: Logger;
}

/** Writes market_events, publishes the graph facts, then stores the answers in the cache. Returns the mutations published. */
export async function applyReclassified(d: ApplyDeps, items: readonly Reclassified[]): Promise<number> {
  if (!items.length) return 0;
  const time = Date.now();
  const enriched = items.map((x) => ({ event: x.event, classification: { ...x.classification, classifiedAt: x.classification.classifiedAt ?? time } }));
  await writeEnrichment(d.pool, enriched);

  const linked = await linkToKnownCompanies(d.graph, d.database, enriched, d.logger);
  const mutations = linked.flatMap((x, i) => {
    const kept = new Set(x.classification.affected.map((a) => a.symbol));
    const dropped = [...new Set(items[i]!.current.affected.map((a) => a.symbol))].filter((s) => !kept.has(s));
    return [...enrichmentMutations(x.event, x.classification, time), ...deletionMutations(x.event.id, dropped, time)];
  });
  await d.publisher.send(d.mutationsTopic, mutations, { source: 'enrich-reclassify', correlationId: randomUUID() });

  for (const x of enriched) await d.store.put(x.event.id, x.classification).catch((err) => { throw classifyPgError(err); });
  return mutations.length;
}
