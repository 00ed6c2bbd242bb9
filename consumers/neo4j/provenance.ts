// Provenance of graph facts: the properties the graph-mutations handler sets on every node and relationship it writes
// (and on the GraphTombstone a delete leaves), so `marketstream explain` can go from a fact to the Kafka record that
// made it and, for enricher facts, the classification it came from. Property names are fixed here; mutations may not
// set them (topics/graph-model.ts PROVENANCE_PREFIXES). Integers are bigints, so Neo4j stores them as integers.
import type { Enrichment, GraphMutation } from '../../schemas/types.generated.ts';
import type { SinkRecord } from '../types.ts';

/** The classification an enricher fact came from (the mutation's `enrichment`). */
export const ENRICHMENT_PROPERTIES = [
  'enr_classifier', 'enr_model', 'enr_fallback_reason', 'enr_input_tokens', 'enr_output_tokens', 'enr_cost_usd',
  'enr_classified_at', 'enr_source_topic', 'enr_source_partition', 'enr_source_offset',
] as const;

const big = (n: number | null | undefined) => (n === null || n === undefined ? null : BigInt(Math.trunc(n)));

/** `src_*` of the record (where it was read; `src_origin`: the producer, null for a tombstone), or undefined when the record does not say where it was read. */
export function sourceOf(r: SinkRecord<GraphMutation>): Record<string, unknown> | undefined {
  if (r.topic === undefined || r.partition === undefined || r.offset === undefined) return undefined;
  return { src_topic: r.topic, src_partition: BigInt(r.partition), src_offset: BigInt(r.offset), src_origin: r.value?.origin ?? null };
}

/** `enr_*` of a mutation's enrichment (every name, null where unknown), or {} when it has none. */
export function enrichmentProperties(e: Enrichment | null | undefined): Record<string, unknown> {
  if (!e) return {};
  return {
    enr_classifier: e.classifier, enr_model: e.model ?? null, enr_fallback_reason: e.fallbackReason ?? null,
    enr_input_tokens: big(e.inputTokens), enr_output_tokens: big(e.outputTokens), enr_cost_usd: e.costUsd,
    enr_classified_at: e.classifiedAt ? new Date(e.classifiedAt).toISOString() : null,
    enr_source_topic: e.sourceTopic ?? null, enr_source_partition: big(e.sourcePartition), enr_source_offset: big(e.sourceOffset),
  };
}

/**
 * What a delete records on its tombstone: every provenance name (null where it does not apply, so nothing of an older
 * delete lingers), `src_op`, and for the relationships of a deleted node `src_cascade`.
 */
export function deletionProvenance(
  r: SinkRecord<GraphMutation>, op: 'tombstone' | 'DeleteRelationship' | 'node deleted', cascade: string | null = null,
): Record<string, unknown> | undefined {
  const src = sourceOf(r);
  if (!src) return undefined;
  const enr = Object.fromEntries(ENRICHMENT_PROPERTIES.map((k) => [k, null]));
  return { ...src, src_op: op, src_cascade: cascade, ...enr, ...enrichmentProperties(r.value?.enrichment) };
}
