// What `rebuild` clears in each store before replaying the log: exactly what the sinks materialize from their topics,
// never what they do not derive from them (the enricher's classification cache, schema_migrations).
// Each sink's reset() calls one of these; an optional scope limits the reset to some symbols.
import type { Driver } from '../lib/stores/neo4j.ts';
import type { Pool } from '../lib/stores/postgres.ts';
import type { Redis } from '../lib/stores/redis.ts';
import { NodeLabels } from '../schemas/types.generated.ts';
import { TOMBSTONE_LABEL } from './neo4j/graph-cypher.ts';
import type { ResetScope } from './types.ts';

/** Tables the PostgreSQL sink materializes; market_events only once its migration exists. */
export const POSTGRES_MATERIALIZED = ['price_data', 'market_events'] as const;

/** Empties price_data (and market_events if present); with a scope, deletes the rows of those symbols only. */
export async function resetPostgres(pool: Pool, scope: ResetScope = {}): Promise<void> {
  const present = (await pool.query<{ name: string; symbols_type: string | null }>(
    `SELECT t.name, c.data_type AS symbols_type
     FROM unnest($1::text[]) AS t(name)
     LEFT JOIN information_schema.columns c ON c.table_schema = current_schema() AND c.table_name = t.name AND c.column_name = 'symbols'
     WHERE to_regclass(t.name) IS NOT NULL`, [[...POSTGRES_MATERIALIZED]])).rows;
  if (!scope.symbols) {
    // Names come from the constant above, never from input. No CASCADE: a table referencing these must be listed, not emptied silently.
    if (present.length) await pool.query(`TRUNCATE ${present.map((t) => t.name).join(', ')}`);
    return;
  }
  const symbols = [...scope.symbols];
  if (present.some((t) => t.name === 'price_data')) await pool.query('DELETE FROM price_data WHERE symbol = ANY($1::text[])', [symbols]);
  if (present.some((t) => t.name === 'market_events' && t.symbols_type === 'ARRAY')) {
    await pool.query('DELETE FROM market_events WHERE symbols && $1::text[]', [symbols]);
  }
}

/** Redis key patterns the Redis sink writes: price:{symbol}:… (latest, watermark) and bars:{symbol}:{interval}. */
export function redisPatterns(scope: ResetScope = {}): string[] {
  if (!scope.symbols) return ['price:*', 'bars:*'];
  return scope.symbols.flatMap((s) => [`price:${globEscape(s)}:*`, `bars:${globEscape(s)}:*`]);
}

/** Deletes the sink's keys, found with SCAN (never KEYS, which blocks the server) and removed with UNLINK. Returns how many. */
export async function resetRedis(redis: Redis, scope: ResetScope = {}): Promise<number> {
  let deleted = 0;
  for (const match of redisPatterns(scope)) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

const NEO4J_BATCH = 10_000;

/** Labels the Neo4j sink writes: the whitelist, plus its delete markers (tombstones are rebuilt from the log too). */
export const NEO4J_MATERIALIZED = [...NodeLabels, TOMBSTONE_LABEL] as const;

/**
 * Detaches and deletes the nodes of every whitelisted label (and so their relationships) and the sink's tombstones,
 * in batches of 10,000, so no single transaction holds the whole graph. With a scope, only the Company/Stock nodes of
 * those symbols and the tombstones of entities keyed by them.
 */
export async function resetNeo4j(driver: Driver, scope: ResetScope = {}): Promise<number> {
  if (scope.symbols) {
    const { records } = await driver.executeQuery(
      `MATCH (n) WHERE ((n:Company OR n:Stock) AND n.symbol IN $symbols)
         OR (n:${TOMBSTONE_LABEL} AND any(s IN $symbols WHERE n.key ENDS WITH ':' + s OR n.key CONTAINS ':' + s + ':'))
       DETACH DELETE n RETURN count(*) AS deleted`, { symbols: [...scope.symbols] });
    return Number(records[0]?.get('deleted') ?? 0);
  }
  let deleted = 0;
  for (const label of NEO4J_MATERIALIZED) {
    // Labels cannot be parameters; these come from the schema's whitelist, never from input.
    for (;;) {
      const { records } = await driver.executeQuery(`MATCH (n:${label}) WITH n LIMIT ${NEO4J_BATCH} DETACH DELETE n RETURN count(*) AS deleted`);
      const n = Number(records[0]?.get('deleted') ?? 0);
      deleted += n;
      if (n < NEO4J_BATCH) break;
    }
  }
  return deleted;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
