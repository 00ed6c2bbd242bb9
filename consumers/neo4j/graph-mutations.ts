// neo4j-sink's graph-mutations handler: applies node/relationship upserts and deletes, and tombstones (a null value
// deletes what its key names), idempotently and never letting an older mutation of an entity overwrite a newer one.
//
// A batch (one partition, offset order) is cut into segments in which every entity appears once: a new segment starts
// when an entity repeats, so each entity's mutations apply in offset order (the last one wins). Within a segment the
// records are grouped by statement (operation × label/type; see graph-cypher.ts) and run as `UNWIND $rows` in the
// order node upserts, relationship upserts, relationship deletes, node deletes. The whole batch is one transaction.
// A tombstone's time is its Kafka record timestamp (it carries no mutation time). Each row also carries the record's
// version (SinkRecord.version; for an enricher mutation the version of the market-events record it came from): newest
// wins by (time, version), and the rows a statement refuses as older than what the graph holds are returned as stale.
// Each row carries its provenance (./provenance.ts): the record's topic/partition/offset and origin, and an enricher
// mutation's classification as enr_* properties beside its own.
import { ValidationError } from '../../lib/errors.ts';
import { classifyNeo4jError, type Driver } from '../../lib/stores/neo4j.ts';
import type { GraphMutation, RelType } from '../../schemas/types.generated.ts';
import { entityKey, entityOf, parseEntityKey, REL_ENDS, validateGraphMutation, type EntityRef, type StoredLabel } from '../../topics/graph-model.ts';
import { graphMutationKey, graphMutations, type TopicDef } from '../../topics/index.ts';
import type { SinkRecord, TopicHandler } from '../types.ts';
import { GRAPH_STATEMENTS, type NodeDeleteRow, type NodeUpsertRow, type RelDeleteRow, type RelUpsertRow } from './graph-cypher.ts';
import { deletionProvenance, enrichmentProperties, sourceOf } from './provenance.ts';

/** One record turned into one statement row. */
type Planned =
  | { op: 'upsertNode'; label: StoredLabel; row: NodeUpsertRow }
  | { op: 'deleteNode'; label: StoredLabel; row: NodeDeleteRow }
  | { op: 'upsertRelationship'; type: RelType; row: RelUpsertRow }
  | { op: 'deleteRelationship'; type: RelType; row: RelDeleteRow };

/** Statement order within a segment. */
const OP_ORDER = ['upsertNode', 'upsertRelationship', 'deleteRelationship', 'deleteNode'] as const;

export interface Statement { text: string; rows: unknown[] }

/** The record as a statement row; throws ValidationError when the record cannot be applied (the runner dead-letters it). */
export function planRecord(r: SinkRecord<GraphMutation>): Planned {
  if (r.value === null) {
    const target = parseEntityKey(r.key);
    if (typeof target === 'string') throw new ValidationError(`tombstone not applied: ${target}`);
    return deletion(target, r.timestamp, r, 'tombstone');
  }
  const m = r.value;
  if (r.key !== graphMutationKey(m)) {
    throw new ValidationError(`record key ${JSON.stringify(r.key)} is not the entity key ${JSON.stringify(graphMutationKey(m))} of its mutation`);
  }
  const target = entityOf(m);
  const time = m.mutationTime;
  const version = r.version ?? null;
  const src = sourceOf(r);
  const withSrc = src ? { src } : {};
  const props = (own: Record<string, unknown>) => (m.enrichment ? { ...own, ...enrichmentProperties(m.enrichment) } : own);
  if ('UpsertNode' in m.op && target.kind === 'node') {
    return { op: 'upsertNode', label: target.label,
      row: { entity: entityKey(target), key: target.key, props: props(m.op.UpsertNode.properties), time, version, ...withSrc } };
  }
  if ('UpsertRelationship' in m.op && target.kind === 'relationship') {
    const [fromLabel, toLabel] = REL_ENDS[target.type];
    return {
      op: 'upsertRelationship', type: target.type,
      row: {
        entity: entityKey(target), from: target.from, to: target.to,
        fromEntity: `${fromLabel}:${target.from}`, toEntity: `${toLabel}:${target.to}`,
        props: props(m.op.UpsertRelationship.properties), time, version, ...withSrc,
      },
    };
  }
  return deletion(target, time, r, 'DeleteRelationship');
}

function deletion(target: EntityRef, time: number, r: SinkRecord<GraphMutation>, op: 'tombstone' | 'DeleteRelationship'): Planned {
  const entity = entityKey(target);
  const version = r.version ?? null;
  const src = deletionProvenance(r, op);
  if (target.kind === 'relationship') return { op: 'deleteRelationship', type: target.type,
    row: { entity, from: target.from, to: target.to, time, version, ...(src ? { src } : {}) } };
  const cascadeSrc = deletionProvenance(r, 'node deleted', entity);
  return { op: 'deleteNode', label: target.label, row: { entity, key: target.key, time, version, ...(src ? { src, cascadeSrc } : {}) } };
}

/** The statements of a batch, in the order they must run (see the file comment). */
export function planBatch(records: readonly SinkRecord<GraphMutation>[]): Statement[] {
  const segments: Planned[][] = [];
  let current: Planned[] = [];
  let seen = new Set<string>();
  for (const r of records) {
    const p = planRecord(r);
    if (seen.has(p.row.entity)) {
      segments.push(current);
      current = [];
      seen = new Set();
    }
    seen.add(p.row.entity);
    current.push(p);
  }
  if (current.length) segments.push(current);

  const out: Statement[] = [];
  for (const segment of segments) {
    for (const op of OP_ORDER) {
      const groups = new Map<string, unknown[]>();
      for (const p of segment) {
        if (p.op !== op) continue;
        const text = p.op === 'upsertNode' || p.op === 'deleteNode' ? GRAPH_STATEMENTS[p.op][p.label] : GRAPH_STATEMENTS[p.op][p.type];
        const rows = groups.get(text) ?? [];
        rows.push(p.row);
        groups.set(text, rows);
      }
      for (const [text, rows] of groups) out.push({ text, rows });
    }
  }
  return out;
}

export interface GraphMutationsHandlerOptions {
  /** The sink's driver (created lazily by the sink). */
  db: () => Driver;
  /** Database to write to; the server's default when absent. */
  database?: string;
  /** Default graph-mutations; tests use an isolated copy. */
  topic?: TopicDef<GraphMutation>;
  /** Clock for the "mutation time not in the future" rule. */
  now?: () => number;
}

export function createGraphMutationsHandler(o: GraphMutationsHandlerOptions): TopicHandler<GraphMutation> {
  const now = o.now ?? Date.now;
  return {
    topic: o.topic ?? graphMutations,
    acceptsTombstones: true,
    validate: (m) => validateGraphMutation(m, now()),
    async writeBatch(records) {
      // Planning first: a record that cannot be applied fails the batch before any statement runs.
      const statements = planBatch(records);
      if (!statements.length) return;
      const session = o.db().session({ defaultAccessMode: 'WRITE', ...(o.database ? { database: o.database } : {}) });
      try {
        // Counted inside the transaction function: a retried transaction counts again from 0.
        const stale = await session.executeWrite(async (tx) => {
          let refused = 0;
          for (const s of statements) {
            const res = await tx.run(s.text, { rows: s.rows });
            refused += s.rows.length - Number(res.records[0]?.get('applied') ?? 0);
          }
          return refused;
        });
        return { stale };
      } catch (err) {
        throw classifyNeo4jError(err);
      } finally {
        await session.close().catch(() => {});
      }
    },
  };
}
