// The Cypher the graph-mutations handler runs: one statement per (operation, label or relationship type), each an
// `UNWIND $rows AS r …` over parameters. Labels and types cannot be parameters, so the statement texts are built once,
// here, from the whitelist constants (StoredLabels, RelTypes, KEY_PROPERTY, REL_ENDS) and nothing else: no value of a
// record ever becomes Cypher text.
//
// Ordering rules the statements enforce (per node / relationship):
// - `_mutated_at` holds the mutation time of the last change applied; an upsert or delete applies only when its time
//   is >= the stored one (equal: the later record wins, so applying the same mutation twice is a no-op).
// - A delete leaves a (:GraphTombstone {key: <entity key>, deleted_at}) behind, so an older upsert that arrives
//   later (a replay, another producer's late record) cannot bring the entity back. An upsert at or after the
//   tombstone's time recreates the entity and removes the tombstone.
// - A relationship upsert creates missing end nodes, unless such a node was deleted after the upsert's time.
// - A node delete detaches its relationships and leaves tombstones for them too.
//
// Provenance: every node and relationship carries the record that last changed it (`src_topic`, `src_partition`,
// `src_offset`, `src_origin`; row field `src`), and an enricher fact its classification (`enr_*`, merged into the row's
// props by graph-mutations.ts). A record that changes nothing (the same mutation again: a redelivery, a replay, the same
// record published twice) leaves the provenance alone, so applying it twice stays a no-op. An end node a relationship
// upsert creates gets that record's `src_*`. A delete records its provenance on the GraphTombstone it leaves (row field
// `src`: `src_*`, `src_op`, `enr_*`; a node delete's relationships: `cascadeSrc`, with `src_cascade` = the node's
// entity key), unless a delete at the same or a later time is already recorded there; a DeleteRelationship's
// provenance replaces a node delete's cascade on the relationship's tombstone whatever their order.
import { RelTypes, type RelType } from '../../schemas/types.generated.ts';
import { KEY_PROPERTY, REL_ENDS, StoredLabels, type StoredLabel } from '../../topics/graph-model.ts';

/** Label of the sink's delete markers (not part of the product graph; uniqueness constraint on `key`). */
export const TOMBSTONE_LABEL = 'GraphTombstone';

/** Later of the tombstone's time and the row's: a tombstone never moves back. */
const KEEP_LATEST = 'CASE WHEN t.deleted_at IS NULL OR t.deleted_at < r.time THEN r.time ELSE t.deleted_at END';

/** Whether the upsert row `r` changes `v` (or `v` has no provenance yet): only then is its provenance replaced. */
const changes = (v: string) => `(t IS NOT NULL OR ${v}.src_offset IS NULL OR ${v}._mutated_at IS NULL OR ${v}._mutated_at < r.time
  OR any(k IN keys(r.props) WHERE NOT coalesce(${v}[k] = r.props[k], ${v}[k] IS NULL AND r.props[k] IS NULL)))`;
/** The row's provenance, set on `v` when `changed`. */
const provenance = (v: string) => `SET ${v} += CASE WHEN changed THEN coalesce(r.src, {}) ELSE {} END`;
/**
 * A delete's provenance on tombstone `t`, unless a delete at the same or a later time is recorded there; then its time.
 * `rank`: which provenance wins regardless of time.
 */
const recordDelete = (src: string, rank: { over?: string; under?: string } = {}) =>
  `SET t += CASE WHEN NOT (${rank.under ?? 'false'}) AND (t.deleted_at IS NULL OR t.deleted_at < r.time OR ${rank.over ?? 'false'}) ` +
  `THEN coalesce(${src}, {}) ELSE {} END
SET t.deleted_at = ${KEEP_LATEST}`;
/**
 * A relationship's own delete names it on its tombstone over its node's delete, in whatever order the two are applied
 * (or concurrently): their records have different keys, so sit in different partitions, and in time order the node's
 * delete would not have found the relationship any more.
 */
const EXPLICIT_OVER_CASCADE = { over: `coalesce(t.src_op = 'node deleted', false)` };
const CASCADE_UNDER_EXPLICIT = { under: `coalesce(t.src_op = 'DeleteRelationship', false)` };

/** `(v:Company {symbol: r.key})`, built from the constants only. */
const node = (v: string, label: StoredLabel, param: string) => `(${v}:${label} {${KEY_PROPERTY[label]}: ${param}})`;
/** Every company node also carries :Stock (the price path MERGEs the same node). */
const extraLabels = (v: string, label: StoredLabel) => (label === 'Company' ? ` SET ${v}:Stock` : '');

/** How both upserts end: the write applies only when the mutation is at least as new as the entity's last one (its
 * changes and provenance recorded), and the entity's tombstone goes. */
const applyIfNewer = (v: string) => `WITH r, t, ${v} WHERE ${v}._mutated_at IS NULL OR ${v}._mutated_at <= r.time
WITH r, t, ${v}, ${changes(v)} AS changed
SET ${v} += r.props, ${v}._mutated_at = r.time
${provenance(v)}
DELETE t`;

function upsertNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH (t:${TOMBSTONE_LABEL} {key: r.entity})
WITH r, t WHERE t IS NULL OR t.deleted_at <= r.time
MERGE ${node('n', label, 'r.key')}${extraLabels('n', label)}
${applyIfNewer('n')}`;
}

function deleteNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('n', label, 'r.key')}
WITH r, n WHERE n IS NULL OR n._mutated_at IS NULL OR n._mutated_at <= r.time
CALL (n, r) {
  MATCH (n)-[x]-()
  WITH DISTINCT r, x
  WITH r, type(x) + ':' + coalesce(startNode(x).symbol, startNode(x).id, startNode(x).name) + ':'
    + coalesce(endNode(x).symbol, endNode(x).id, endNode(x).name) AS relKey
  MERGE (t:${TOMBSTONE_LABEL} {key: relKey})
  ${recordDelete('r.cascadeSrc', CASCADE_UNDER_EXPLICIT)}
}
DETACH DELETE n
MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
${recordDelete('r.src')}`;
}

function upsertRelationship(type: RelType): string {
  const [from, to] = REL_ENDS[type];
  return `UNWIND $rows AS r
OPTIONAL MATCH (t:${TOMBSTONE_LABEL} {key: r.entity})
OPTIONAL MATCH ${node('a0', from, 'r.from')}
OPTIONAL MATCH (ta:${TOMBSTONE_LABEL} {key: r.fromEntity})
OPTIONAL MATCH ${node('b0', to, 'r.to')}
OPTIONAL MATCH (tb:${TOMBSTONE_LABEL} {key: r.toEntity})
WITH r, t WHERE (t IS NULL OR t.deleted_at <= r.time)
  AND (a0 IS NOT NULL OR ta IS NULL OR ta.deleted_at <= r.time)
  AND (b0 IS NOT NULL OR tb IS NULL OR tb.deleted_at <= r.time)
MERGE ${node('a', from, 'r.from')} ON CREATE SET ${from === 'Company' ? 'a:Stock, ' : ''}a += coalesce(r.src, {})
MERGE ${node('b', to, 'r.to')} ON CREATE SET ${to === 'Company' ? 'b:Stock, ' : ''}b += coalesce(r.src, {})
MERGE (a)-[x:${type}]->(b)
${applyIfNewer('x')}`;
}

function deleteRelationship(type: RelType): string {
  const [from, to] = REL_ENDS[type];
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('a', from, 'r.from')}-[x:${type}]->${node('b', to, 'r.to')}
WITH r, x WHERE x IS NULL OR x._mutated_at IS NULL OR x._mutated_at <= r.time
DELETE x
MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
${recordDelete('r.src', EXPLICIT_OVER_CASCADE)}`;
}

const byLabel = (f: (l: StoredLabel) => string) => Object.fromEntries(StoredLabels.map((l) => [l, f(l)])) as Record<StoredLabel, string>;
const byType = (f: (t: RelType) => string) => Object.fromEntries(RelTypes.map((t) => [t, f(t)])) as Record<RelType, string>;

/** Every statement the handler can run, keyed by operation and label/type. */
export const GRAPH_STATEMENTS = {
  upsertNode: byLabel(upsertNode),
  deleteNode: byLabel(deleteNode),
  upsertRelationship: byType(upsertRelationship),
  deleteRelationship: byType(deleteRelationship),
} as const;

/**
 * Rows of each statement. `entity` is the entity key; `time` the mutation time (a tombstone's: its record timestamp);
 * `src` the provenance properties (absent when the record does not say where it was read: nothing is recorded).
 */
export type Provenance = Record<string, unknown>;
export interface NodeUpsertRow { entity: string; key: string; props: Record<string, unknown>; time: number; src?: Provenance }
export interface NodeDeleteRow { entity: string; key: string; time: number; src?: Provenance; cascadeSrc?: Provenance }
export interface RelUpsertRow { entity: string; from: string; to: string; fromEntity: string; toEntity: string; props: Record<string, unknown>;
  time: number; src?: Provenance }
export interface RelDeleteRow { entity: string; from: string; to: string; time: number; src?: Provenance }
