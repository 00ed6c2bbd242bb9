// How much a sink has materialized, store by store: rows per table, keys per pattern, nodes per label and relationships.
// `rebuild` prints these at the end; a scope restricts them to some symbols like Sink.reset.
import type { SinkName } from '../consumers/registry.ts';
import { POSTGRES_MATERIALIZED, redisPatterns } from '../consumers/store-reset.ts';
import type { ResetScope } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import { createNeo4jDriver } from '../lib/stores/neo4j.ts';
import { createPgPool } from '../lib/stores/postgres.ts';
import { createRedis } from '../lib/stores/redis.ts';
import { NodeLabels } from '../schemas/types.generated.ts';

/** What was counted → how many (e.g. `price_data rows`, `bars:* keys`, `Company nodes`). */
export type StoreCounts = Record<string, number>;

/** The stores a sink materializes, and so can be cleared, counted and rebuilt. */
export const STORES = ['postgres', 'redis', 'neo4j'] as const satisfies readonly SinkName[];
export type StoreName = (typeof STORES)[number];

export async function storeCounts(config: Config, sink: StoreName, scope: ResetScope = {}): Promise<StoreCounts> {
  const count = { postgres: postgresCounts, redis: redisCounts, neo4j: neo4jCounts } satisfies Record<StoreName, unknown>;
  return count[sink](config, scope);
}

async function postgresCounts(config: Config, scope: ResetScope): Promise<StoreCounts> {
  const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-counts' });
  try {
    const out: StoreCounts = {};
    const present = (await pool.query<{ name: string }>('SELECT name FROM unnest($1::text[]) AS t(name) WHERE to_regclass(name) IS NOT NULL', [[...POSTGRES_MATERIALIZED]])).rows;
    for (const { name } of present) {
      if (scope.symbols && name !== 'price_data') continue; // scoped counts cover the per-symbol table only
      // Table names come from POSTGRES_MATERIALIZED, never from input.
      const sql = scope.symbols ? 'SELECT count(*)::bigint AS n FROM price_data WHERE symbol = ANY($1::text[])' : `SELECT count(*)::bigint AS n FROM ${name}`;
      const { rows } = await pool.query<{ n: string }>(sql, scope.symbols ? [[...scope.symbols]] : []);
      out[`${name} rows`] = Number(rows[0]?.n ?? 0);
    }
    return out;
  } finally {
    await pool.end();
  }
}

async function redisCounts(config: Config, scope: ResetScope): Promise<StoreCounts> {
  const redis = createRedis(config);
  try {
    await redis.connect();
    const out: StoreCounts = {};
    for (const match of redisPatterns(scope)) {
      const kind = `${match.split(':')[0]}:* keys`;
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      out[kind] = (out[kind] ?? 0) + n;
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

async function neo4jCounts(config: Config, scope: ResetScope): Promise<StoreCounts> {
  const driver = createNeo4jDriver(config);
  try {
    const out: StoreCounts = {};
    if (scope.symbols) {
      const { records } = await driver.executeQuery(
        'MATCH (n) WHERE (n:Company OR n:Stock) AND n.symbol IN $symbols OPTIONAL MATCH (n)-[r]-() RETURN count(DISTINCT n) AS nodes, count(DISTINCT r) AS rels',
        { symbols: [...scope.symbols] });
      out['Company/Stock nodes'] = Number(records[0]?.get('nodes') ?? 0);
      out.relationships = Number(records[0]?.get('rels') ?? 0);
      return out;
    }
    for (const label of NodeLabels) {
      // Labels from the schema's whitelist, never from input.
      const { records } = await driver.executeQuery(`MATCH (n:${label}) RETURN count(n) AS n`);
      out[`${label} nodes`] = Number(records[0]?.get('n') ?? 0);
    }
    const { records } = await driver.executeQuery('MATCH ()-[r]->() RETURN count(r) AS n');
    out.relationships = Number(records[0]?.get('n') ?? 0);
    return out;
  } finally {
    await driver.close();
  }
}
