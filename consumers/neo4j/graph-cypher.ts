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
import { RelTypes, type RelType } from '../../schemas/types.generated.ts';
import { KEY_PROPERTY, REL_ENDS, StoredLabels, type StoredLabel } from '../../topics/graph-model.ts';

/** Label of the sink's delete markers (not part of the product graph; uniqueness constraint on `key`). */
export const TOMBSTONE_LABEL = 'GraphTombstone';

/** Later of the tombstone's time and the row's: a tombstone never moves back. */
const KEEP_LATEST = 'CASE WHEN t.deleted_at IS NULL OR t.deleted_at < r.time THEN r.time ELSE t.deleted_at END';

/** `(v:Company {symbol: r.key})`, built from the constants only. */
const node = (v: string, label: StoredLabel, param: string) => `(${v}:${label} {${KEY_PROPERTY[label]}: ${param}})`;
/** Every company node also carries :Stock (the price path MERGEs the same node). */
const extraLabels = (v: string, label: StoredLabel) => (label === 'Company' ? ` SET ${v}:Stock` : '');

function upsertNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH (t:${TOMBSTONE_LABEL} {key: r.entity})
WITH r, t WHERE t IS NULL OR t.deleted_at <= r.time
MERGE ${node('n', label, 'r.key')}${extraLabels('n', label)}
WITH r, t, n WHERE n._mutated_at IS NULL OR n._mutated_at <= r.time
SET n += r.props, n._mutated_at = r.time
DELETE t`;
}

function deleteNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('n', label, 'r.key')}
WITH r, n WHERE n IS NULL OR n._mutated_at IS NULL OR n._mutated_at <= r.time
CALL (n, r) {
  MATCH (n)-[x]-()
  WITH DISTINCT r, x
  WITH r, type(x) + ':' + coalesce(startNode(x).symbol, startNode(x).id, startNode(x).name) + ':' + coalesce(endNode(x).symbol, endNode(x).id, endNode(x).name) AS relKey
  MERGE (t:${TOMBSTONE_LABEL} {key: relKey})
  SET t.deleted_at = ${KEEP_LATEST}
}
DETACH DELETE n
MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
SET t.deleted_at = ${KEEP_LATEST}`;
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
MERGE ${node('a', from, 'r.from')}${from === 'Company' ? ' ON CREATE SET a:Stock' : ''}
MERGE ${node('b', to, 'r.to')}${to === 'Company' ? ' ON CREATE SET b:Stock' : ''}
MERGE (a)-[x:${type}]->(b)
WITH r, t, x WHERE x._mutated_at IS NULL OR x._mutated_at <= r.time
SET x += r.props, x._mutated_at = r.time
DELETE t`;
}

function deleteRelationship(type: RelType): string {
  const [from, to] = REL_ENDS[type];
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('a', from, 'r.from')}-[x:${type}]->${node('b', to, 'r.to')}
WITH r, x WHERE x IS NULL OR x._mutated_at IS NULL OR x._mutated_at <= r.time
DELETE x
MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
SET t.deleted_at = ${KEEP_LATEST}`;
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

/** Rows of each statement. `entity` is the entity key; `time` the mutation time (a tombstone's: its record timestamp). */
export interface NodeUpsertRow { entity: string; key: string; props: Record<string, unknown>; time: number }
export interface NodeDeleteRow { entity: string; key: string; time: number }
export interface RelUpsertRow { entity: string; from: string; to: string; fromEntity: string; toEntity: string; props: Record<string, unknown>; time: number }
export interface RelDeleteRow { entity: string; from: string; to: string; time: number }
