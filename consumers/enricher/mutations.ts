// What the enricher publishes for a classified market event: the (:MarketEvent) node with the classification, and one
// (:MarketEvent)-[:AFFECTS {relevance}]->(:Company) per affected symbol (the relationship upsert creates a missing
// Company node, so no Company upsert is sent: company properties belong to the profile producer). For a deleted
// event (a market-events tombstone): AFFECTS deletes for the symbols it was known to affect; the node itself is
// deleted by a graph-mutations tombstone under `MarketEvent:<id>` (see sink.ts). Built with topics/graph-model.ts
// helpers and checked with its validator, so nothing the neo4j sink would reject is published.
//
// Every mutation carries its `enrichment`: the classification it came from (classifier, model, tokens, cost, when) and
// the market-events record classified, or for deletes the tombstone that withdrew the event; the neo4j sink keeps it
// on the fact (enr_* properties) for `marketstream explain`.
import { ValidationError } from '../../lib/errors.ts';
import type { Enrichment, GraphMutation, MarketEvent } from '../../schemas/types.generated.ts';
import { deleteRelationship, upsertNode, upsertRelationship, validateGraphMutation, type MutationMeta } from '../../topics/graph-model.ts';
import type { Classification } from './types.ts';

const ORIGIN = 'enricher' as const;

/** Where a market-events record was read. */
export interface SourceRecord { topic: string; partition: number; offset: string }

/** The mutation's `enrichment`: what classified the event, its cost, and the record that led to the mutation. */
export function enrichmentOf(c: Classification | null, source?: SourceRecord): Enrichment {
  return {
    classifier: c?.classifier ?? 'unknown', model: c?.model ?? null, fallbackReason: c?.fallbackReason ?? null,
    inputTokens: c?.usage?.inputTokens ?? 0, outputTokens: c?.usage?.outputTokens ?? 0, costUsd: c?.usage?.costUsd ?? 0,
    classifiedAt: c?.classifiedAt ?? null,
    sourceTopic: source?.topic ?? null, sourcePartition: source?.partition ?? null, sourceOffset: source ? Number(source.offset) : null,
  };
}

/** The MarketEvent node upsert, then the AFFECTS upserts (most relevant first). `source`: the market-events record classified. */
export function enrichmentMutations(event: MarketEvent, c: Classification, time: number, source?: SourceRecord): GraphMutation[] {
  const meta: MutationMeta = { origin: ORIGIN, time, enrichment: enrichmentOf(c, source) };
  const node = upsertNode('MarketEvent', event.id, {
    type: c.type,
    sentiment: c.sentiment,
    sentiment_score: c.sentimentScore,
    headline: event.headline,
    // ISO 8601 UTC: readable, sorts in time order, and `datetime(e.published_at)` in Cypher.
    published_at: new Date(event.publishedAt).toISOString(),
    source: event.source,
    url: event.url ?? null,
    classifier: c.classifier,
    model: c.model,
    rationale: c.rationale,
  }, meta);
  const affects = c.affected.map((a) => upsertRelationship('AFFECTS', event.id, a.symbol, { relevance: a.relevance }, meta));
  return checked([node, ...affects], time);
}

/**
 * AFFECTS deletes for a deleted event's symbols. `known`: the classification the symbols came from; `source`: the
 * record that decided the delete (the market-events tombstone), when there is one.
 */
export function deletionMutations(eventId: string, affectedSymbols: readonly string[], time: number, known: Classification | null = null,
  source?: SourceRecord): GraphMutation[] {
  const meta: MutationMeta = { origin: ORIGIN, time, enrichment: enrichmentOf(known, source) };
  return checked(affectedSymbols.map((s) => deleteRelationship('AFFECTS', eventId, s, meta)), time);
}

function checked(mutations: GraphMutation[], now: number): GraphMutation[] {
  for (const m of mutations) {
    const problem = validateGraphMutation(m, now);
    if (problem) throw new ValidationError(`enricher built a mutation the graph would reject: ${problem}`);
  }
  return mutations;
}
