// What neo4j-sink materializes, cleared and counted for `rebuild`: nodes of every whitelisted label (and so their
// relationships) and the sink's delete markers, which are rebuilt from the log too. A scope limits both to the
// Company/Stock nodes of some symbols (and, for the reset, the tombstones of entities keyed by them).
import type { Driver } from '../../lib/stores/neo4j.ts';
import { NodeLabels, type GraphMutation, type PriceUpdate } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import type { ReplayLoss, ResetScope, RetainedLog, StoreCounts } from '../types.ts';
import { TOMBSTONE_LABEL } from './graph-cypher.ts';

const BATCH = 10_000;

/** Labels the sink writes: the whitelist, plus its tombstones. */
export const MATERIALIZED = [...NodeLabels, TOMBSTONE_LABEL] as const;

const count = async (driver: Driver, database: string | undefined, cypher: string, params: Record<string, unknown> = {}) =>
  Number((await driver.executeQuery(cypher, params, { database })).records[0]?.get('n') ?? 0);

/** Detaches and deletes in batches of 10,000, so no single transaction holds the whole graph. Returns how many nodes. */
export async function resetNeo4j(driver: Driver, scope: ResetScope = {}, database?: string): Promise<number> {
  if (scope.symbols) {
    return count(driver, database,
      `MATCH (n) WHERE ((n:Company OR n:Stock) AND n.symbol IN $symbols)
         OR (n:${TOMBSTONE_LABEL} AND any(s IN $symbols WHERE n.key ENDS WITH ':' + s OR n.key CONTAINS ':' + s + ':'))
       DETACH DELETE n RETURN count(*) AS n`, { symbols: [...scope.symbols] });
  }
  let deleted = 0;
  for (const label of MATERIALIZED) {
    // Labels cannot be parameters; these come from the schema's whitelist, never from input.
    for (;;) {
      const n = await count(driver, database, `MATCH (n:${label}) WITH n LIMIT ${BATCH} DETACH DELETE n RETURN count(*) AS n`);
      deleted += n;
      if (n < BATCH) break;
    }
  }
  return deleted;
}

/** Nodes per label (`Company nodes`) and relationships; scoped: the symbols' Company/Stock nodes and their relationships. */
export async function countNeo4j(driver: Driver, scope: ResetScope = {}, database?: string): Promise<StoreCounts> {
  if (scope.symbols) {
    const q = 'MATCH (n) WHERE (n:Company OR n:Stock) AND n.symbol IN $symbols OPTIONAL MATCH (n)-[r]-() RETURN count(DISTINCT n) AS nodes, ' +
      'count(DISTINCT r) AS rels';
    const { records } = await driver.executeQuery(q, { symbols: [...scope.symbols] }, { database });
    return { 'Company/Stock nodes': Number(records[0]?.get('nodes') ?? 0), relationships: Number(records[0]?.get('rels') ?? 0) };
  }
  const out: StoreCounts = {};
  for (const label of NodeLabels) out[`${label} nodes`] = await count(driver, database, `MATCH (n:${label}) RETURN count(n) AS n`);
  out.relationships = await count(driver, database, 'MATCH ()-[r]->() RETURN count(r) AS n');
  return out;
}

/**
 * What a replay of `log` would not bring back. Graph mutations: an upsert sets only the properties it carries, so once
 * a partition of graph-mutations lost its first records, any node or relationship may come back only in part; all of
 * them (within the scope) are reported, as made before the oldest mutation the log still has. Prices: the last_price of
 * a Company/Stock whose symbol has no bar left in the log (a symbol with bars left gets its newest back).
 */
export async function replayLossNeo4j(driver: Driver, database: string | undefined, log: RetainedLog,
  topics: { prices: TopicDef<PriceUpdate>; mutations: TopicDef<GraphMutation> }, scope: ResetScope = {}): Promise<ReplayLoss[]> {
  const losses: ReplayLoss[] = [];
  if (log.truncated(topics.mutations.name).length) {
    const counts = await countNeo4j(driver, scope, database);
    const n = Object.values(counts).reduce((a, b) => a + b, 0);
    if (n > 0) {
      const kept = await log.oldestByKey(topics.mutations, (m) => m.mutationTime);
      const logStart = kept.size ? Math.min(...kept.values()) : undefined;
      const dropped = log.truncated(topics.mutations.name).reduce((a, t) => a + t.dropped, 0);
      losses.push({
        what: 'nodes and relationships', count: n, to: logStart, topic: topics.mutations.name,
        detail: `may come back only in part or not at all: ${dropped} graph mutation(s) that built them are gone from the log`,
      });
    }
  }
  const truncatedPrices = new Set(log.truncated(topics.prices.name).map((t) => t.partition));
  if (truncatedPrices.size) {
    const { records } = await driver.executeQuery(
      `MATCH (c:Company) WHERE c.last_price IS NOT NULL${scope.symbols ? ' AND c.symbol IN $symbols' : ''}
       RETURN c.symbol AS symbol, c.last_updated.epochMillis AS t`, { symbols: scope.symbols ? [...scope.symbols] : [] }, { database });
    const candidates = records.map((r) => ({ symbol: String(r.get('symbol')), t: Number(r.get('t')) }))
      .filter((r) => truncatedPrices.has(log.partitionOf(topics.prices.name, r.symbol)));
    if (candidates.length) {
      const kept = await log.oldestByKey(topics.prices, (v) => v.eventTime, candidates.map((r) => r.symbol));
      const lost = candidates.filter((r) => !kept.has(r.symbol));
      if (lost.length) {
        const times = lost.map((r) => r.t).filter(Number.isFinite);
        losses.push({
          what: 'Company last_price values', count: lost.length, from: times.length ? Math.min(...times) : undefined,
            to: times.length ? Math.max(...times) : undefined,
          topic: topics.prices.name, detail: 'of symbols with no bar left in the log',
        });
      }
    }
  }
  return losses;
}
