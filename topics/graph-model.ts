// The graph-mutations contract beyond what Avro checks: which labels and relationship types exist and how they connect,
// each label's key property, entity keys (`Company:AAPL`, `CORRELATED_WITH:AAPL:MSFT`) and the rules a mutation must
// meet (key formats, property names and values). Producers build mutations with the helpers here; the neo4j sink
// validates every record against the same rules before anything reaches Cypher.
import { SYMBOL_PATTERN } from './rules.ts';
import {
  MutationOrigins, NodeLabels, RelTypes,
  type Enrichment, type GraphMutation, type MutationOrigin, type NodeLabel, type PropertyValue, type RelType,
} from '../schemas/types.generated.ts';

/** A node as it is stored: Stock is the same node as Company (one node per listed company, with both labels). */
export type StoredLabel = 'Company' | 'Sector' | 'Industry' | 'MarketEvent';
export const StoredLabels = ['Company', 'Sector', 'Industry', 'MarketEvent'] as const satisfies readonly StoredLabel[];

export const STORED_LABEL = {
  Company: 'Company', Stock: 'Company', Sector: 'Sector', Industry: 'Industry', MarketEvent: 'MarketEvent',
} as const satisfies Record<NodeLabel, StoredLabel>;

/** Each stored label's unique key property (a uniqueness constraint in lib/stores/neo4j.ts). */
export const KEY_PROPERTY = { Company: 'symbol', Sector: 'name', Industry: 'name', MarketEvent: 'id' } as const satisfies Record<StoredLabel, string>;

/** Start and end label of each relationship type: the type fixes both, so `<type>:<from>:<to>` names one relationship. */
export const REL_ENDS = {
  IN_SECTOR: ['Company', 'Sector'],
  IN_INDUSTRY: ['Company', 'Industry'],
  COMPETES_WITH: ['Company', 'Company'],
  CORRELATED_WITH: ['Company', 'Company'],
  AFFECTS: ['MarketEvent', 'Company'],
} as const satisfies Record<RelType, readonly [StoredLabel, StoredLabel]>;

/** Sector and industry names: 1-200 characters, no colon (it separates entity key parts), no control characters, trimmed. */
export const NAME_PATTERN = /^(?![\s])[^:\p{Cc}]{1,200}(?<![\s])$/u;
/** Event ids: letters, digits, dot, dash, underscore (the events producer uses 32 hex digits). */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const KEY_PATTERN = {
  Company: SYMBOL_PATTERN, Sector: NAME_PATTERN, Industry: NAME_PATTERN, MarketEvent: EVENT_ID_PATTERN,
} as const satisfies Record<StoredLabel, RegExp>;

/** Property names: lower snake case. Leading underscores are kept for the sink's own bookkeeping (`_mutated_at`). */
export const PROPERTY_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * Property name prefixes no mutation may set: the neo4j sink's provenance of each fact (`src_topic`, `src_partition`,
 * `src_offset`, `src_origin`: the record that made it; `enr_*`: the classification, from the mutation's `enrichment`).
 */
export const PROVENANCE_PREFIXES = ['src_', 'enr_'] as const;

/**
 * Properties a mutation may not set on a node: its key (identity), and what the price path owns (everything the
 * neo4j sink's price-updates handler sets on a Company: consumers/neo4j/sink.ts and consumers/stored-fields.ts).
 */
export const RESERVED_NODE_PROPERTIES = {
  Company: ['symbol', 'last_price', 'last_updated', 'last_vwap', 'last_trades', 'last_price_version'],
  Sector: ['name'],
  Industry: ['name'],
  MarketEvent: ['id'],
} as const satisfies Record<StoredLabel, readonly string[]>;

export const MAX_PROPERTIES = 64;
export const MAX_STRING_LENGTH = 10_000;
export const MAX_ARRAY_LENGTH = 1000;
/** How far in the future a mutation time may be (clock skew); a later one would freeze its entity until then. */
export const MAX_FUTURE_MS = 24 * 3_600_000;

/** What an entity key names. */
export type EntityRef =
  | { kind: 'node'; label: StoredLabel; key: string }
  | { kind: 'relationship'; type: RelType; from: string; to: string };

const isNodeLabel = (s: unknown): s is NodeLabel => (NodeLabels as readonly unknown[]).includes(s);
const isRelType = (s: unknown): s is RelType => (RelTypes as readonly unknown[]).includes(s);
const quote = (s: unknown) => JSON.stringify(s)?.slice(0, 120) ?? String(s);

/** Why `key` cannot be a key of `label`, or null. */
export function keyProblem(label: StoredLabel, key: unknown): string | null {
  if (typeof key !== 'string' || !KEY_PATTERN[label].test(key)) {
    return `key ${quote(key)} is not a valid ${label} ${KEY_PROPERTY[label]}`;
  }
  return null;
}

/** Why a property map is not acceptable (names, reserved names, values), or null. */
export function propertiesProblem(props: unknown, reserved: readonly string[]): string | null {
  if (typeof props !== 'object' || props === null || Array.isArray(props)) return 'properties is not a map';
  const entries = Object.entries(props as Record<string, unknown>);
  if (entries.length > MAX_PROPERTIES) return `${entries.length} properties, more than ${MAX_PROPERTIES}`;
  for (const [name, value] of entries) {
    if (!PROPERTY_NAME_PATTERN.test(name)) return `property name ${quote(name)} does not match ${PROPERTY_NAME_PATTERN.source}`;
    if (reserved.includes(name)) return `property ${name} is reserved (${reserved.join(', ')})`;
    if (PROVENANCE_PREFIXES.some((p) => name.startsWith(p)))
      return `property ${name} is reserved: ${PROVENANCE_PREFIXES.join(' and ')} properties are the graph's provenance, set by the sink`;
    const problem = valueProblem(value);
    if (problem) return `property ${name}: ${problem}`;
  }
  return null;
}

function valueProblem(v: unknown): string | null {
  if (v === null || typeof v === 'boolean' || typeof v === 'bigint') return null;
  if (typeof v === 'number') return Number.isFinite(v) ? null : `${v} is not a finite number`;
  if (typeof v === 'string') return v.length <= MAX_STRING_LENGTH ? null : `string longer than ${MAX_STRING_LENGTH} characters`;
  if (Array.isArray(v)) {
    if (v.length > MAX_ARRAY_LENGTH) return `array longer than ${MAX_ARRAY_LENGTH}`;
    return v.every((x) => typeof x === 'string' && x.length <= MAX_STRING_LENGTH) ? null : 'array items must be strings';
  }
  return `unsupported value type ${typeof v}`;
}

function refProblem(type: RelType, end: 0 | 1, ref: unknown): string | null {
  const want = REL_ENDS[type][end];
  const r = ref as { label?: unknown; key?: unknown } | null;
  const which = end === 0 ? 'from' : 'to';
  if (!isNodeLabel(r?.label)) return `${which} label ${quote(r?.label)} is not one of ${NodeLabels.join(', ')}`;
  if (STORED_LABEL[r.label] !== want) return `${type} goes from ${REL_ENDS[type][0]} to ${REL_ENDS[type][1]}; ${which} is a ${r.label}`;
  return keyProblem(want, r.key);
}

/**
 * null when the mutation may be applied, otherwise the reason: labels and types outside the whitelist, malformed
 * keys, end labels that do not fit the type, a self-relationship, property names that are not lower snake case or are
 * reserved, non-finite numbers, a mutation time that is unset or more than a day ahead of `now`.
 */
export function validateGraphMutation(m: GraphMutation, now: number): string | null {
  if (!Number.isSafeInteger(m.mutationTime) || m.mutationTime <= 0) return `mutationTime ${quote(m.mutationTime)} is not a positive epoch-ms time`;
  if (m.mutationTime > now + MAX_FUTURE_MS) return `mutationTime ${new Date(m.mutationTime).toISOString()} is more than a day in the future`;
  if (!(MutationOrigins as readonly unknown[]).includes(m.origin)) return `origin ${quote(m.origin)} is not one of ${MutationOrigins.join(', ')}`;
  const enrichment = enrichmentProblem(m);
  if (enrichment) return enrichment;
  const op = m.op as Record<string, unknown>;
  const branches = op && typeof op === 'object' ? Object.keys(op) : [];
  if (branches.length !== 1) return 'op must hold exactly one of UpsertNode, UpsertRelationship, DeleteRelationship';
  if ('UpsertNode' in m.op) {
    const n = m.op.UpsertNode;
    if (!isNodeLabel(n.label)) return `label ${quote(n.label)} is not one of ${NodeLabels.join(', ')}`;
    const label = STORED_LABEL[n.label];
    return keyProblem(label, n.key) ?? propertiesProblem(n.properties, RESERVED_NODE_PROPERTIES[label]);
  }
  const r = 'UpsertRelationship' in m.op ? m.op.UpsertRelationship : 'DeleteRelationship' in m.op ? m.op.DeleteRelationship : null;
  if (!r) return `op ${quote(branches[0])} is not one of UpsertNode, UpsertRelationship, DeleteRelationship`;
  if (!isRelType(r.type)) return `relationship type ${quote(r.type)} is not one of ${RelTypes.join(', ')}`;
  const ends = refProblem(r.type, 0, r.from) ?? refProblem(r.type, 1, r.to);
  if (ends) return ends;
  if (REL_ENDS[r.type][0] === REL_ENDS[r.type][1] && r.from.key === r.to.key) return `${r.type} from ${r.from.key} to itself`;
  return 'UpsertRelationship' in m.op ? propertiesProblem(m.op.UpsertRelationship.properties, []) : null;
}

/** Why a mutation's `enrichment` is not acceptable (only the enricher's mutations carry one), or null. */
function enrichmentProblem(m: GraphMutation): string | null {
  const e = m.enrichment;
  if (e === null || e === undefined) return null;
  if (m.origin !== 'enricher') return `enrichment is only for mutations of origin enricher, not ${m.origin}`;
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(e.classifier)) return `enrichment classifier ${quote(e.classifier)} is not a classifier name`;
  for (const [name, n] of [['inputTokens', e.inputTokens], ['outputTokens', e.outputTokens]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) return `enrichment ${name} ${quote(n)} is not a count`;
  }
  if (!Number.isFinite(e.costUsd) || e.costUsd < 0) return `enrichment costUsd ${quote(e.costUsd)} is not an amount`;
  return null;
}

/**
 * The entity a (valid) mutation changes, with Stock folded into Company. Its `entityKey` is the record key the topic
 * uses, except that `Stock:X` and `Company:X` name the same node.
 */
export function entityOf(m: GraphMutation): EntityRef {
  if ('UpsertNode' in m.op) return { kind: 'node', label: STORED_LABEL[m.op.UpsertNode.label], key: m.op.UpsertNode.key };
  const r = 'UpsertRelationship' in m.op ? m.op.UpsertRelationship : m.op.DeleteRelationship;
  return { kind: 'relationship', type: r.type, from: r.from.key, to: r.to.key };
}

export function entityKey(e: EntityRef): string {
  return e.kind === 'node' ? `${e.label}:${e.key}` : `${e.type}:${e.from}:${e.to}`;
}

/** Parses a record key (`Company:AAPL`, `Stock:AAPL`, `CORRELATED_WITH:AAPL:MSFT`) as a tombstone names it; a string is the reason it cannot. */
export function parseEntityKey(key: string | null): EntityRef | string {
  if (key === null) return 'a tombstone needs a key naming the entity to delete';
  const parts = key.split(':');
  const [head] = parts;
  if (isNodeLabel(head)) {
    if (parts.length !== 2) return `node key ${quote(key)} is not <label>:<key>`;
    const label = STORED_LABEL[head];
    return keyProblem(label, parts[1]) ?? { kind: 'node', label, key: parts[1]! };
  }
  if (isRelType(head)) {
    if (parts.length !== 3) return `relationship key ${quote(key)} is not <type>:<from key>:<to key>`;
    const [fromLabel, toLabel] = REL_ENDS[head];
    const problem = keyProblem(fromLabel, parts[1]) ?? keyProblem(toLabel, parts[2]);
    return problem ?? { kind: 'relationship', type: head, from: parts[1]!, to: parts[2]! };
  }
  return `key ${quote(key)} does not start with a whitelisted label (${NodeLabels.join(', ')}) or relationship type (${RelTypes.join(', ')})`;
}

// ---- building mutations (producers) ----

export interface MutationMeta {
  origin: MutationOrigin;
  /** When the change was decided, epoch ms. */
  time: number;
  /** The classification the change came from (origin enricher only). */
  enrichment?: Enrichment | null;
}

const header = (meta: MutationMeta) => ({ mutationTime: meta.time, origin: meta.origin, ...(meta.enrichment ? { enrichment: meta.enrichment } : {}) });

export function upsertNode(label: NodeLabel, key: string, properties: Record<string, PropertyValue>, meta: MutationMeta): GraphMutation {
  return { ...header(meta), op: { UpsertNode: { label, key, properties } } };
}

/** Relationship upsert; the end labels follow from the type (REL_ENDS). */
export function upsertRelationship(type: RelType, from: string, to: string, properties: Record<string, PropertyValue>, meta: MutationMeta): GraphMutation {
  const [fromLabel, toLabel] = REL_ENDS[type];
  return { ...header(meta), op: { UpsertRelationship: { type, from: { label: fromLabel, key: from }, to: { label: toLabel, key: to }, properties } } };
}

export function deleteRelationship(type: RelType, from: string, to: string, meta: MutationMeta): GraphMutation {
  const [fromLabel, toLabel] = REL_ENDS[type];
  return { ...header(meta), op: { DeleteRelationship: { type, from: { label: fromLabel, key: from }, to: { label: toLabel, key: to } } } };
}

/** An integer property (Avro long, a bigint in the union); plain numbers are doubles. */
export function long(n: number): bigint {
  return BigInt(Math.trunc(n));
}
