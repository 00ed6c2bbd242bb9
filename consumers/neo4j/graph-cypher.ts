// The Cypher the graph-mutations handler runs: one statement per (operation, label or relationship type), each an
// `UNWIND $rows AS r … RETURN count(*) AS applied` over parameters. Labels and types cannot be parameters, so the
// statement texts are built once, here, from the whitelist constants (StoredLabels, RelTypes, KEY_PROPERTY, REL_ENDS)
// and nothing else: no value of a record ever becomes Cypher text.
//
// Ordering rules the statements enforce (per node / relationship): newest wins by (time, version), compared in that
// order. `time` is the mutation time (a tombstone's: its record timestamp); `version` the record's version
// (consumers/types.ts SinkRecord.version: its offset, the offset a redriven record restates, or for an enricher
// mutation the version of the market-events record it came from, lib/record-headers.ts recordVersion). A row without
// a version (records built by hand) compares by time alone, the later applied winning at equal times.
// - `_mutated_at` and `_version` hold the (time, version) of the last change applied; an upsert or delete applies
//   only when its (time, version) is newer (the same record again is refused: applying it twice is a no-op; the same
//   mutation published again, a newer record, advances `_version` and changes nothing else).
// - A delete leaves a (:GraphTombstone {key: <entity key>, deleted_at, deleted_version}) behind, so an older upsert
//   that arrives later (a replay, a stale member's write in flight across a rebalance, another producer's late
//   record) cannot bring the entity back. A newer upsert recreates the entity and removes the tombstone.
// - A node keeps the newest delete it has seen as `_deleted_at`/`_deleted_version`: the one a newer upsert recreated it
//   after, or one that arrived after a newer upsert (which the delete does not undo). Node upserts and relationship
//   upserts older than that delete are refused, as they would have been undone in offset order.
// - A relationship upsert creates missing end nodes, unless such a node was deleted after the upsert's (time, version).
// - A node delete removes the node's relationships older than it, leaving tombstones for them too, and the node itself
//   unless the node or one of its remaining relationships is newer (then it only marks the node, as above).
// - A delete older than the delete already recorded for its entity changes nothing (refused), except a relationship's
//   own delete over a node delete's cascade: its provenance replaces the cascade's (EXPLICIT_OVER_CASCADE).
// Every statement returns how many of its rows applied; the others were refused as stale (WriteResult.stale).
// Versions of different partitions (an entity and its end nodes, a node and the relationships its delete cascades to)
// are compared only at equal times; the result is arbitrary there but the same in every order of application.
//
// Provenance: every node and relationship carries the record that last changed it (`src_topic`, `src_partition`,
// `src_offset`, `src_origin`; row field `src`), and an enricher fact its classification (`enr_*`, merged into the row's
// props by graph-mutations.ts). A record that changes nothing (the same mutation again: a redelivery, a replay, the same
// record published twice) leaves the provenance alone, so applying it twice stays a no-op. An end node a relationship
// upsert creates gets that record's `src_*`. A delete records its provenance on the GraphTombstone it leaves (row field
// `src`: `src_*`, `src_op`, `enr_*`; a node delete's relationships: `cascadeSrc`, with `src_cascade` = the node's
// entity key), unless a delete at the same or a later (time, version) is already recorded there; a DeleteRelationship's
// provenance replaces a node delete's cascade on the relationship's tombstone whatever their order.
import { RelTypes, type RelType } from '../../schemas/types.generated.ts';
import { KEY_PROPERTY, REL_ENDS, StoredLabels, type StoredLabel } from '../../topics/graph-model.ts';

/** Label of the sink's delete markers (not part of the product graph; uniqueness constraint on `key`). */
export const TOMBSTONE_LABEL = 'GraphTombstone';

/**
 * Whether row `r`'s (time, version) is newer than the (time, version) held in `time` and `version` (nothing held:
 * newer). Without a version on either side, equal times count as newer (the later applied wins).
 */
const newerThan = (time: string, version: string) =>
  `(${time} IS NULL OR ${time} < r.time OR (${time} = r.time AND (r.version IS NULL OR ${version} IS NULL OR ${version} < r.version)))`;
/** Whether `r` is newer than what element `v` holds. */
const newerThanElement = (v: string) => newerThan(`${v}._mutated_at`, `${v}._version`);
/** Whether `r` is newer than the delete tombstone `t` records (no tombstone: newer). */
const newerThanDelete = (t: string) => `(${t} IS NULL OR ${newerThan(`${t}.deleted_at`, `${t}.deleted_version`)})`;
/** Whether `r` is newer than the delete a recreated node `n` remembers. */
const newerThanPastDelete = (n: string) => `(${n} IS NULL OR ${newerThan(`${n}._deleted_at`, `${n}._deleted_version`)})`;

/**
 * Whether the upsert row `r` changes `v` (or `v` has no provenance yet): only then is its provenance replaced. A record
 * that repeats what `v` holds (the same mutation published again) advances `_version` only.
 */
const changes = (v: string) => `(t IS NOT NULL OR ${v}.src_offset IS NULL OR ${v}._mutated_at IS NULL OR ${v}._mutated_at < r.time
  OR any(k IN keys(r.props) WHERE NOT coalesce(${v}[k] = r.props[k], ${v}[k] IS NULL AND r.props[k] IS NULL)))`;
/** The row's provenance, set on `v` when `changed`. */
const provenance = (v: string) => `SET ${v} += CASE WHEN changed THEN coalesce(r.src, {}) ELSE {} END`;
/**
 * A delete's (time, version) on tombstone `t`, unless a newer one is recorded there (a tombstone never moves back), and
 * its provenance unless a delete at the same or a later time is recorded (the same delete published again advances
 * `deleted_version` only). `rank`: which provenance wins regardless of time.
 */
const recordDelete = (src: string, rank: { over?: string; under?: string } = {}) =>
  `WITH r, t, ${newerThan('t.deleted_at', 't.deleted_version')} AS newest
SET t += CASE WHEN NOT (${rank.under ?? 'false'}) AND (t.deleted_at IS NULL OR t.deleted_at < r.time OR ${rank.over ?? 'false'})
  THEN coalesce(${src}, {}) ELSE {} END
SET t.deleted_at = CASE WHEN newest THEN r.time ELSE t.deleted_at END,
  t.deleted_version = CASE WHEN newest THEN r.version ELSE t.deleted_version END`;
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

/** Every statement ends so: how many of its rows applied (the others were refused as stale). */
const APPLIED = 'RETURN count(*) AS applied';

/** How both upserts end: the write applies only when the mutation is newer than the entity's last one (its changes,
 * (time, version) and provenance recorded), and the entity's tombstone goes. */
const applyIfNewer = (v: string, keepDelete: boolean) => `WITH r, t, ${v} WHERE ${newerThanElement(v)}${keepDelete ? ` AND ${newerThanPastDelete(v)}` : ''}
WITH r, t, ${v}, ${changes(v)} AS changed
SET ${v} += r.props, ${v}._mutated_at = r.time, ${v}._version = r.version
${provenance(v)}${keepDelete ? `
SET ${v}._deleted_at = coalesce(t.deleted_at, ${v}._deleted_at), ${v}._deleted_version = CASE WHEN t IS NULL THEN ${v}._deleted_version
  ELSE t.deleted_version END` : ''}
DELETE t
${APPLIED}`;

function upsertNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH (t:${TOMBSTONE_LABEL} {key: r.entity})
WITH r, t WHERE ${newerThanDelete('t')}
MERGE ${node('n', label, 'r.key')}${extraLabels('n', label)}
${applyIfNewer('n', true)}`;
}

function deleteNode(label: StoredLabel): string {
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('n', label, 'r.key')}
OPTIONAL MATCH (t0:${TOMBSTONE_LABEL} {key: r.entity})
WITH r, n WHERE ${newerThanDelete('t0')} AND ${newerThanPastDelete('n')}
CALL (n, r) {
  MATCH (n)-[x]-() WHERE ${newerThanElement('x')}
  WITH DISTINCT r, x
  WITH r, x, type(x) + ':' + coalesce(startNode(x).symbol, startNode(x).id, startNode(x).name) + ':'
    + coalesce(endNode(x).symbol, endNode(x).id, endNode(x).name) AS relKey
  DELETE x
  MERGE (t:${TOMBSTONE_LABEL} {key: relKey})
  ${recordDelete('r.cascadeSrc', CASCADE_UNDER_EXPLICIT)}
}
WITH r, n, n IS NULL OR (${newerThanElement('n')} AND NOT EXISTS { (n)--() }) AS removes
CALL (n, r, removes) {
  WITH n, r WHERE NOT removes
  SET n._deleted_at = r.time, n._deleted_version = r.version
}
CALL (n, r, removes) {
  WITH n, r WHERE removes
  DETACH DELETE n
  MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
  ${recordDelete('r.src')}
}
${APPLIED}`;
}

function upsertRelationship(type: RelType): string {
  const [from, to] = REL_ENDS[type];
  return `UNWIND $rows AS r
OPTIONAL MATCH (t:${TOMBSTONE_LABEL} {key: r.entity})
OPTIONAL MATCH ${node('a0', from, 'r.from')}
OPTIONAL MATCH (ta:${TOMBSTONE_LABEL} {key: r.fromEntity})
OPTIONAL MATCH ${node('b0', to, 'r.to')}
OPTIONAL MATCH (tb:${TOMBSTONE_LABEL} {key: r.toEntity})
WITH r, t WHERE ${newerThanDelete('t')}
  AND ${newerThanDelete('ta')} AND ${newerThanPastDelete('a0')}
  AND ${newerThanDelete('tb')} AND ${newerThanPastDelete('b0')}
MERGE ${node('a', from, 'r.from')} ON CREATE SET ${from === 'Company' ? 'a:Stock, ' : ''}a += coalesce(r.src, {})
MERGE ${node('b', to, 'r.to')} ON CREATE SET ${to === 'Company' ? 'b:Stock, ' : ''}b += coalesce(r.src, {})
MERGE (a)-[x:${type}]->(b)
${applyIfNewer('x', false)}`;
}

function deleteRelationship(type: RelType): string {
  const [from, to] = REL_ENDS[type];
  return `UNWIND $rows AS r
OPTIONAL MATCH ${node('a', from, 'r.from')}-[x:${type}]->${node('b', to, 'r.to')}
OPTIONAL MATCH (t0:${TOMBSTONE_LABEL} {key: r.entity})
WITH r, x, t0 WHERE (x IS NULL OR ${newerThanElement('x')}) AND (${newerThanDelete('t0')} OR coalesce(t0.src_op = 'node deleted', false))
DELETE x
MERGE (t:${TOMBSTONE_LABEL} {key: r.entity})
${recordDelete('r.src', EXPLICIT_OVER_CASCADE)}
${APPLIED}`;
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
 * `version` the record's version (null when the record has none: built by hand); `src` the provenance properties
 * (absent when the record does not say where it was read: nothing is recorded).
 */
export type Provenance = Record<string, unknown>;
export interface NodeUpsertRow { entity: string; key: string; props: Record<string, unknown>; time: number; version: number | null;
  src?: Provenance }
export interface NodeDeleteRow { entity: string; key: string; time: number; version: number | null; src?: Provenance; cascadeSrc?: Provenance }
export interface RelUpsertRow { entity: string; from: string; to: string; fromEntity: string; toEntity: string; props: Record<string, unknown>;
  time: number; version: number | null; src?: Provenance }
export interface RelDeleteRow { entity: string; from: string; to: string; time: number; version: number | null; src?: Provenance }
