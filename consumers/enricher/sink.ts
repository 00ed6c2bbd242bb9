// enricher: market-events → a classification per event (Claude, or the rule-based classifier without
// ANTHROPIC_API_KEY; cached by event id in PostgreSQL: ./classifier.ts, ./cache.ts) → graph-mutations: the
// (:MarketEvent) node and its [:AFFECTS] relationships (./mutations.ts), origin `enricher`, published through the
// runner's publisher (SinkContext). The classification is also written to PostgreSQL market_events
// (../postgres/market-events.ts). Claude's hourly budget is shared by the whole group (./classifier.ts).
//
// Everything happens inside writeBatch, so the runner commits the batch's offsets only after the rows were written and
// then the mutations acknowledged by Kafka: at-least-once. Events are linked only to companies they name or the graph
// already holds. A redelivered batch republishes the same mutations (idempotent in the graph) and is answered from the
// cache, and members given the same event at once (a rebalance) share one classification through a claim in
// PostgreSQL (./cache.ts), so Claude is never asked (or billed) twice for an event.
//
// A tombstone on market-events (an event withdrawn) deletes its AFFECTS relationships (the symbols come from the
// cached classification), then the node (a graph-mutations tombstone under `MarketEvent:<id>`), and its
// market_events row. Within a batch, the last record of each event id decides.
//
// Every mutation carries its `enrichment` (./mutations.ts): the classification (classifier, model, tokens, cost, when)
// and the market-events record it answers (the event, or the tombstone that withdrew it), for the graph's provenance.
//
// Ordering in the graph: a mutation's time is the Kafka timestamp of the market-events record it came from (a
// graph-mutations tombstone's own Kafka timestamp is set to it), never the enricher's clock, and each record carries
// that record's version in `marketstream-source-version` (lib/record-headers.ts), by which the neo4j sink orders it.
// So a redelivered batch re-publishes mutations the graph already holds (refused as stale), and a member that lost the
// partition while publishing an event's links cannot bring them back after the new owner applied its withdrawal.
import { randomUUID } from 'node:crypto';
import { neo4jDatabase, type Config } from '../../lib/config.ts';
import { MarketstreamError } from '../../lib/errors.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import type { Publisher, RecordMeta } from '../../lib/publisher.ts';
import { sourceVersionHeader } from '../../lib/record-headers.ts';
import { classifyPgError, createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../schemas/types.generated.ts';
import { graphMutations, marketEvents, type TopicDef } from '../../topics/index.ts';
import { validateMarketEvent } from '../../topics/market-event.ts';
import { lastStatePerKey, writeEnrichment, type EnrichedEvent } from '../postgres/market-events.ts';
import type { Sink, SinkContext, SinkRecord, TopicHandler } from '../types.ts';
import { createClassificationStore, type ClassificationStore } from './cache.ts';
import { createClassifier, type ClaudeCall, type CreateClassifierDeps, type EventClassifier } from './classifier.ts';
import { toClassify } from './types.ts';
import { linkToKnownCompanies } from './links.ts';
import { deletionMutations, enrichmentMutations, type SourceRecord } from './mutations.ts';

/** Besides configuration (ENRICHER_POOL_SIZE, NEO4J_DATABASE, the ANTHROPIC_* and CLAUDE_* variables). */
export interface EnricherOptions {
  /** Called after each Claude request with its tokens, cost, latency and outcome (metrics). */
  onCall?: (call: ClaudeCall) => void;
  /** Overrides of the Claude settings taken from config (tests, tuning). */
  claude?: CreateClassifierDeps['claude'];
}

const SOURCE = 'enricher';

/**
 * The record that decides each key (the last one, as in lastStatePerKey): where it was read, its Kafka timestamp (the
 * time of the mutations made from it) and its version, which they carry in `marketstream-source-version`.
 */
interface Decider { time: number; source?: SourceRecord; record?: RecordMeta }

function decidersByKey(records: readonly SinkRecord<MarketEvent>[]): Map<string, Decider> {
  const out = new Map<string, Decider>();
  for (const r of records) {
    const key = r.value?.id ?? r.key;
    if (key === null) continue;
    const read = r.topic !== undefined && r.partition !== undefined && r.offset !== undefined;
    out.set(key, {
      time: r.timestamp,
      ...(read ? { source: { topic: r.topic!, partition: r.partition!, offset: r.offset! } } : {}),
      ...(r.partition !== undefined && r.version !== undefined ? { record: { headers: sourceVersionHeader(r.partition, r.version) } } : {}),
    });
  }
  return out;
}

export function createEnricher(config: Config, ctx: SinkContext = {}, opts: EnricherOptions = {}): Sink {
  const logger = (ctx.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name: 'enricher' })).child({ component: 'enricher' });
  const mutationsTopic = ctx.topics?.mutations ?? graphMutations;
  let pool: Pool | undefined;
  let driver: Driver | undefined;
  const graph = () => driver ?? (driver = createNeo4jDriver(config));
  let publisher: Publisher | undefined;
  let classifier: EventClassifier | undefined;
  let store: ClassificationStore | undefined;

  const ready = () => {
    if (!pool || !publisher || !classifier || !store) throw new Error('enricher used before connect()');
    return { pool, publisher, classifier, store };
  };

  const events: TopicHandler<MarketEvent> = {
    topic: ctx.topics?.events ?? marketEvents,
    acceptsTombstones: true,
    validate: (v) => validateMarketEvent(v, Date.now()),
    writeBatch: async (records) => enrich({ ...ready(), graph, database: neo4jDatabase(config), logger, mutationsTopic }, records),
  };

  return {
    name: 'enricher',
    handlers: [events],
    async connect() {
      // Idempotent: the runner calls it again after a retriable failure.
      pool ??= createPgPool(config, { max: config.ENRICHER_POOL_SIZE, applicationName: 'marketstream-enricher' });
      await migrate(pool).catch((err) => { throw classifyPgError(err); });
      // The runner's publisher (connected and disconnected by the process that runs the sinks).
      if (!ctx.publisher) {
        throw new MarketstreamError('NO_PUBLISHER', 'enricher needs the runner\'s publisher (SinkContext.publisher) to publish graph mutations',
          { retriable: false });
      }
      publisher = ctx.publisher;
      store ??= createClassificationStore(pool, logger);
      classifier ??= createClassifier({
        config, logger, pool, ...(opts.onCall ? { onCall: opts.onCall } : {}), ...(opts.claude ? { claude: opts.claude } : {}),
      });
    },
    async ping() { await ready().pool.query('SELECT 1'); },
    async close() {
      await classifier?.close();
      await pool?.end();
      await driver?.close();
      pool = undefined; driver = undefined; publisher = undefined; classifier = undefined; store = undefined;
    },
  };
}

/** What a batch of the enricher needs, once connected. */
interface Enriching {
  pool: Pool; publisher: Publisher; classifier: EventClassifier; store: ClassificationStore;
  graph: () => Driver; database: string | undefined; logger: Logger; mutationsTopic: TopicDef<GraphMutation>;
}

/** One batch of market-events: classify, write PostgreSQL, then publish the graph mutations (see the top of this file). */
async function enrich(e: Enriching, records: readonly SinkRecord<MarketEvent>[]): Promise<void> {
  const { pool: db, publisher: out, classifier: c, store: cache, graph, database, logger, mutationsTopic } = e;
  const { upserts, deletes } = lastStatePerKey(records);
  const decider = decidersByKey(records);
  const enriched = await classifyAll(c, upserts);
  // What each withdrawn event was known to affect (nothing when it was never classified).
  const withdrawn = await Promise.all(deletes.map(async (id) => {
    const known = await cache.get(id).catch((err) => { throw classifyPgError(err); });
    return { id, known, symbols: known?.affected.map((a) => a.symbol) ?? [] };
  }));

  // PostgreSQL first: when it rejects a record (the runner then isolates it and dead-letters it), nothing of that
  // event has been published, so a record that ends in the DLQ leaves nothing in the graph.
  await writeEnrichment(db, enriched, deletes);

  // Each mutation has the time of the record it came from and carries its version (see the top of this file).
  const linked = await linkToKnownCompanies(graph, database, enriched, logger);
  const mutations: GraphMutation[] = [];
  const perRecord: (RecordMeta | undefined)[] = [];
  const add = (made: GraphMutation[], d: Decider) => {
    for (const m of made) { mutations.push(m); perRecord.push(d.record); }
  };
  for (const x of linked) {
    const d = decider.get(x.event.id)!;
    add(enrichmentMutations(x.event, x.classification, d.time, d.source), d);
  }
  for (const w of withdrawn) {
    const d = decider.get(w.id)!;
    add(deletionMutations(w.id, w.symbols, d.time, w.known, d.source), d);
  }
  const meta = { source: SOURCE, correlationId: randomUUID() };
  await out.send(mutationsTopic, mutations, { ...meta, records: perRecord });
  // A tombstone's time in the graph is its Kafka timestamp: the withdrawal's.
  for (const w of withdrawn) {
    const d = decider.get(w.id)!;
    await out.sendTombstone(mutationsTopic, `MarketEvent:${w.id}`, { ...meta, records: [{ ...d.record, timestamp: d.time }] });
  }

  const by = (k: 'claude' | 'rules') => enriched.filter((x) => x.classification.classifier === k).length;
  logger.info({
    events: enriched.length, withdrawn: deletes.length, mutations: mutations.length + withdrawn.length,
    claude: by('claude'), rules: by('rules'), fallbacks: enriched.filter((x) => x.classification.fallbackReason).length,
    correlationId: meta.correlationId,
  }, 'enriched batch');
}

async function classifyAll(c: EventClassifier, events: readonly MarketEvent[]): Promise<EnrichedEvent[]> {
  // All settled: the answers that did arrive are cached before a failure makes the runner retry the batch.
  const settled = await Promise.allSettled(events.map((e) => c.classify(toClassify(e))));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return events.map((event, i) => ({ event, classification: (settled[i] as PromiseFulfilledResult<EnrichedEvent['classification']>).value }));
}
