// `marketstream explain <event id | SYMBOL | FROM-REL-TO>`: the chain behind a graph fact. The fact as Neo4j holds it
// (or the GraphTombstone its delete left), the graph-mutations record that made (or deleted) it, read back from the log
// at the topic/partition/offset the fact records (consumers/neo4j/provenance.ts) and decoded through the registry; for
// an enricher fact the classification (classifier, model, when, tokens, cost, or the rules); and the source: the
// market-events record the enricher classified (or the tombstone that withdrew it) with its PostgreSQL row, or the
// company profile a Company node came from; for a symbol, its newest bar per interval with its freshness and
// confidence (./prices.ts) and its latest features (./features.ts). Reads only; every query is parameterized, labels and types come from the
// whitelist constants.
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { ValidationError } from '../../lib/errors.ts';
import type { Driver } from '../../lib/stores/neo4j.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import { RelTypes, type RelType } from '../../schemas/types.generated.ts';
import { EVENT_ID_PATTERN, KEY_PROPERTY, parseEntityKey, REL_ENDS, type EntityRef } from '../../topics/graph-model.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { TOMBSTONE_LABEL } from '../../consumers/neo4j/graph-cypher.ts';
import type { RecordDecoder } from '../inspect/decode.ts';
import { readRecords, type LoggedRecord, type RecordRef } from './records.ts';
import { featuresOf, type FeaturesExplained } from './features.ts';
import { pricesOf, type PriceExplained } from './prices.ts';

export interface ExplainDeps {
  config: Config; kafka: Kafka; decoder: RecordDecoder; driver: Driver; pool: Pool; database?: string;
  /** The clock the prices' freshness and confidence are judged at (default Date.now). */
  now?: () => number;
}

export interface EnrichmentInfo {
  classifier: string | null; model: string | null; fallbackReason: string | null;
  inputTokens: number | null; outputTokens: number | null; costUsd: number | null; classifiedAt: string | null;
}

/** One graph fact: in the graph now, or deleted (its tombstone). */
export interface Fact {
  entity: string;
  kind: 'node' | 'relationship';
  state: 'present' | 'deleted';
  /** The fact's own properties (provenance and bookkeeping left out); empty when deleted. */
  properties: Record<string, unknown>;
  /** Time of the last change applied (ISO), or of the delete. */
  time: string | null;
  /**
   * Version of the record that last changed it (or deleted it), with `time` the order the sink keeps
   * (consumers/neo4j/graph-cypher.ts): the record's offset, or for an enricher fact its market-events record's. Null
   * when not recorded (written before versions were kept, or by hand).
   */
  version: number | null;
  /** The record that made (or deleted) it; null when the fact records none (written before provenance, or by hand). */
  source: RecordRef | null;
  origin: string | null;
  /** For a deletion: tombstone, DeleteRelationship, or node deleted (with `cascade` = the node). */
  deletedBy?: { op: string | null; cascade: string | null };
  enrichment: EnrichmentInfo | null;
  /** The market-events record classified (or that withdrew the event), from the enrichment. */
  eventRecord: RecordRef | null;
  /** The record at `source`, read back from the log. */
  record?: LoggedRecord;
}

export interface Explanation {
  target: string;
  facts: Fact[];
  /**
   * For a market event: its market-events record (decoded), its PostgreSQL row (null: no row, e.g. withdrawn; its
   * `version` is the version of the record that wrote it) and the tombstone a withdrawal left (its version, when).
   */
  article?: {
    eventId: string; record: LoggedRecord | null; row: Record<string, unknown> | null; classification: Record<string, unknown> | null;
    tombstone: { version: string; deletedAt: Date } | null;
  };
  /** For a Company: the profile the node's properties came from (the decoded profile mutation's properties). */
  profile?: Record<string, unknown> | null;
  /** For a symbol: the newest bar per interval in PostgreSQL, with its freshness and confidence now. */
  prices?: PriceExplained[];
  /** For a symbol: the latest features per interval the features group holds, and the price records they came from. */
  features?: FeaturesExplained[];
}

type Target = { kind: 'node-or-event'; key: string } | { kind: 'entity'; ref: EntityRef };

const REL_PATTERN = new RegExp(`^(.+)-(${RelTypes.join('|')})-(.+)$`);

/** `AAPL`, an event id, `AAPL-COMPETES_WITH-MSFT`, `<event id>-AFFECTS-AAPL`, or an entity key (`Company:AAPL`, `AFFECTS:<id>:AAPL`). */
export function parseTarget(s: string): Target {
  const t = s.trim();
  const rel = REL_PATTERN.exec(t);
  if (rel) {
    const type = rel[2] as RelType;
    const parsed = parseEntityKey(`${type}:${rel[1]}:${rel[3]}`);
    if (typeof parsed === 'string') throw new ValidationError(parsed);
    return { kind: 'entity', ref: parsed };
  }
  if (t.includes(':')) {
    const parsed = parseEntityKey(t);
    if (typeof parsed === 'string') throw new ValidationError(parsed);
    return { kind: 'entity', ref: parsed };
  }
  if (!SYMBOL_PATTERN.test(t) && !EVENT_ID_PATTERN.test(t))
    throw new ValidationError(`"${t}" is not an event id, a symbol, or FROM-REL-TO (REL one of ${RelTypes.join(', ')})`);
  return { kind: 'node-or-event', key: t };
}

const BOOKKEEPING = new Set(['_mutated_at', '_version', '_deleted_at', '_deleted_version']);
const isProvenance = (k: string) => k.startsWith('src_') || k.startsWith('enr_') || BOOKKEEPING.has(k);
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null);
const iso = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : null);

function enrichmentOf(p: Record<string, unknown>): EnrichmentInfo | null {
  if (p.enr_classifier === undefined || p.enr_classifier === null) return null;
  return {
    classifier: str(p.enr_classifier), model: str(p.enr_model), fallbackReason: str(p.enr_fallback_reason),
    inputTokens: num(p.enr_input_tokens), outputTokens: num(p.enr_output_tokens), costUsd: num(p.enr_cost_usd), classifiedAt: str(p.enr_classified_at),
  };
}

function refOf(topic: unknown, partition: unknown, offset: unknown): RecordRef | null {
  if (typeof topic !== 'string' || num(partition) === null || num(offset) === null) return null;
  return { topic, partition: num(partition)!, offset: String(num(offset)) };
}

function factOf(entity: string, kind: Fact['kind'], p: Record<string, unknown>): Fact {
  return {
    entity, kind, state: 'present',
    properties: Object.fromEntries(Object.entries(p).filter(([k]) => !isProvenance(k)).sort(([a], [b]) => a.localeCompare(b))),
    time: iso(p._mutated_at), version: num(p._version), source: refOf(p.src_topic, p.src_partition, p.src_offset), origin: str(p.src_origin),
    enrichment: enrichmentOf(p), eventRecord: refOf(p.enr_source_topic, p.enr_source_partition, p.enr_source_offset),
  };
}

function deletedFact(t: Record<string, unknown>): Fact {
  const key = String(t.key);
  return {
    entity: key, kind: key.split(':').length === 3 ? 'relationship' : 'node', state: 'deleted', properties: {},
    time: iso(t.deleted_at), version: num(t.deleted_version), source: refOf(t.src_topic, t.src_partition, t.src_offset), origin: str(t.src_origin),
    deletedBy: { op: str(t.src_op), cascade: str(t.src_cascade) },
    enrichment: enrichmentOf(t), eventRecord: refOf(t.enr_source_topic, t.enr_source_partition, t.enr_source_offset),
  };
}

/** The tombstone of a withdrawn event in PostgreSQL; null when none (or when the store predates migration 007). */
async function eventTombstone(pool: Pool, id: string): Promise<{ version: string; deletedAt: Date } | null> {
  try {
    const { rows } = await pool.query<{ version: string; deleted_at: Date }>(
      'SELECT version::text AS version, deleted_at FROM market_event_tombstones WHERE id = $1', [id]);
    return rows[0] ? { version: rows[0].version, deletedAt: rows[0].deleted_at } : null;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return null; // undefined_table
    throw err;
  }
}

export async function explain(d: ExplainDeps, input: string): Promise<Explanation> {
  const target = parseTarget(input);
  const q = async (text: string, params: Record<string, unknown>) =>
    (await d.driver.executeQuery(text, params, { ...(d.database ? { database: d.database } : {}), routing: 'READ' })).records.map((r) =>
      r.toObject() as Record<string, unknown>);

  const nodeFact = async (label: 'Company' | 'MarketEvent', key: string): Promise<Fact | null> => {
    const [row] = await q(`MATCH (n:${label} {${KEY_PROPERTY[label]}: $key}) RETURN properties(n) AS p`, { key });
    return row ? factOf(`${label}:${key}`, 'node', row.p as Record<string, unknown>) : null;
  };
  const tombstones = async (key: string, prefix?: string) =>
    (await q(`MATCH (t:${TOMBSTONE_LABEL}) WHERE t.key = $key OR ($prefix IS NOT NULL AND t.key STARTS WITH $prefix) RETURN properties(t) AS p ORDER BY t.key`,
      { key, prefix: prefix ?? null }))
      .map((r) => deletedFact(r.p as Record<string, unknown>));

  const facts: Fact[] = [];
  let eventId: string | null = null;
  let company = false;
  if (target.kind === 'node-or-event') {
    const c = SYMBOL_PATTERN.test(target.key) ? await nodeFact('Company', target.key) : null;
    const e = c ? null : EVENT_ID_PATTERN.test(target.key) ? await nodeFact('MarketEvent', target.key) : null;
    if (c) { facts.push(c); company = true; }
    else if (e) {
      facts.push(e);
      eventId = target.key;
      const affects = await q('MATCH (:MarketEvent {id: $id})-[x:AFFECTS]->(c:Company) RETURN c.symbol AS to, properties(x) AS p ORDER BY to',
        { id: target.key });
      facts.push(...affects.map((r) => factOf(`AFFECTS:${target.key}:${String(r.to)}`, 'relationship', r.p as Record<string, unknown>)));
      facts.push(...(await tombstones('', `AFFECTS:${target.key}:`)));
    } else {
      // Deleted? A tombstone of the company, or of the event and its AFFECTS.
      const gone = [...(await tombstones(`Company:${target.key}`)), ...(await tombstones(`MarketEvent:${target.key}`, `AFFECTS:${target.key}:`))];
      facts.push(...gone);
      if (gone.some((f) => f.entity.startsWith('MarketEvent:') || f.entity.startsWith('AFFECTS:'))) eventId = target.key;
      else company = gone.length > 0;
    }
  } else if (target.ref.kind === 'node') {
    const { label, key } = target.ref;
    const [row] = await q(`MATCH (n:${label} {${KEY_PROPERTY[label]}: $key}) RETURN properties(n) AS p`, { key });
    facts.push(...(row ? [factOf(`${label}:${key}`, 'node', row.p as Record<string, unknown>)] : await tombstones(`${label}:${key}`)));
    if (label === 'MarketEvent') eventId = key;
    company = label === 'Company';
  } else {
    const { type, from, to } = target.ref;
    const [fromLabel, toLabel] = REL_ENDS[type];
    const entity = `${type}:${from}:${to}`;
    const [row] =
      await q(`MATCH (:${fromLabel} {${KEY_PROPERTY[fromLabel]}: $from})-[x:${type}]->(:${toLabel} {${KEY_PROPERTY[toLabel]}: $to}) RETURN properties(x) AS p`,
      { from, to });
    facts.push(...(row ? [factOf(entity, 'relationship', row.p as Record<string, unknown>)] : await tombstones(entity)));
    if (type === 'AFFECTS') eventId = from;
  }

  // Every record the chain names, read from the log at once.
  const article = facts.map((f) => f.eventRecord).find((r) => r !== null) ?? null;
  const refs = [...facts.flatMap((f) => (f.source ? [f.source] : [])), ...(article ? [article] : [])];
  const read = refs.length ? await readRecords(d.kafka, d.config, d.decoder, refs) : [];
  facts.forEach((f) => { if (f.source) f.record = read.shift(); });
  const explanation: Explanation = { target: input, facts };

  if (eventId !== null) {
    const { rows } = await d.pool.query('SELECT * FROM market_events WHERE id = $1', [eventId]);
    const cached = await d.pool.query('SELECT classifier, model, fallback_reason, created_at, updated_at FROM event_classifications WHERE event_id = $1',
      [eventId]);
    explanation.article = { eventId, record: article ? read.shift() ?? null : null, row: rows[0] ?? null, classification: cached.rows[0] ?? null,
      tombstone: await eventTombstone(d.pool, eventId) };
  }
  if (target.kind === 'node-or-event' && SYMBOL_PATTERN.test(target.key)) {
    const prices = await pricesOf(d.pool, d.config, target.key, (d.now ?? Date.now)());
    if (prices.length) explanation.prices = prices;
    const features = await featuresOf(d.pool, d.config, target.key);
    if (features.length) {
      const logged = await readRecords(d.kafka, d.config, d.decoder, features.flatMap((f) => [f.newest, f.bar]));
      for (const f of features) f.records = { newest: logged.shift()!, bar: logged.shift()! };
      explanation.features = features;
    }
  }
  if (company) {
    const node = facts.find((f) => f.entity.startsWith('Company:') && f.record?.found);
    const value = node?.record?.found && node.record.value.kind === 'avro'
      ? node.record.value.value as { origin?: string; op?: { UpsertNode?: { properties?: Record<string, unknown> } } } : null;
    explanation.profile = value?.origin === 'profile' ? value.op?.UpsertNode?.properties ?? null : null;
  }
  return explanation;
}
