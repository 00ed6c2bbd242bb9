// What neo4j-sink materializes, cleared and counted for `rebuild`: nodes of every whitelisted label (and so their
// relationships) and the sink's delete markers, which are rebuilt from the log too. A scope limits both to the
// Company/Stock nodes of some symbols (and, for the reset, the tombstones of entities keyed by them).
import type { Driver } from '../../lib/stores/neo4j.ts';
import { NodeLabels } from '../../schemas/types.generated.ts';
import type { ResetScope, StoreCounts } from '../types.ts';
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
    const q = 'MATCH (n) WHERE (n:Company OR n:Stock) AND n.symbol IN $symbols OPTIONAL MATCH (n)-[r]-() RETURN count(DISTINCT n) AS nodes, count(DISTINCT r) AS rels';
    const { records } = await driver.executeQuery(q, { symbols: [...scope.symbols] }, { database });
    return { 'Company/Stock nodes': Number(records[0]?.get('nodes') ?? 0), relationships: Number(records[0]?.get('rels') ?? 0) };
  }
  const out: StoreCounts = {};
  for (const label of NodeLabels) out[`${label} nodes`] = await count(driver, database, `MATCH (n:${label}) RETURN count(n) AS n`);
  out.relationships = await count(driver, database, 'MATCH ()-[r]->() RETURN count(r) AS n');
  return out;
}
