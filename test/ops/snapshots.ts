// Store snapshots for rebuild and backfill tests, restricted to the test's own symbols (other tests share the stores):
// row counts and content checksums, so "the same state" means the same content, not just the same size.
import { createHash } from 'node:crypto';
import type { Config } from '../../lib/config.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { createRedis, type Redis } from '../../lib/stores/redis.ts';

export interface Snapshot { count: number; checksum: string; detail?: unknown }

const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');

export interface Stores {
  pg: Pool;
  redis: Redis;
  neo4j: Driver;
  postgres(symbols: string[], eventIds?: string[]): Promise<{ prices: Snapshot; events: Snapshot }>;
  redisState(symbols: string[]): Promise<Snapshot>;
  neo4jState(symbols: string[]): Promise<Snapshot>;
  /** The latest close each store shows for a symbol. */
  latest(symbol: string): Promise<{ redis: number | null; neo4j: number | null }>;
  close(): Promise<void>;
}

export async function openStores(config: Config): Promise<Stores> {
  const pg = createPgPool(config, { max: 2 });
  const redis = createRedis(config);
  await redis.connect();
  const neo4j = createNeo4jDriver(config);
  return {
    pg, redis, neo4j,
    async postgres(symbols, eventIds = []) {
      // md5 of every column of the ordered rows, computed by PostgreSQL.
      const prices = (await pg.query<{ n: string; md5: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(concat_ws('|', symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at), ` +
          `',' ORDER BY symbol, interval, ts)) AS md5
         FROM price_data WHERE symbol = ANY($1)`, [symbols])).rows[0]!;
      const events = (await pg.query<{ n: string; md5: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(concat_ws('|', id, array_to_string(symbols, ','), headline, summary, source, url, published_at, category, ` +
          `ingested_at, type, sentiment, classifier), ',' ORDER BY id)) AS md5
         FROM market_events WHERE id = ANY($1)`, [eventIds])).rows[0]!;
      return { prices: { count: Number(prices.n), checksum: prices.md5 ?? '' }, events: { count: Number(events.n), checksum: events.md5 ?? '' } };
    },
    async redisState(symbols) {
      const keys: string[] = [];
      for (const s of symbols) for (const pattern of [`price:${s}:*`, `bars:${s}:*`]) keys.push(...await scanAll(redis, pattern));
      keys.sort();
      const content: unknown[] = [];
      for (const k of keys) {
        const type = await redis.type(k);
        if (type === 'hash') content.push([k, Object.entries(await redis.hgetall(k)).sort()]);
        else if (type === 'zset') content.push([k, await redis.zrange(k, '0', '-1', 'WITHSCORES')]);
        else content.push([k, await redis.get(k)]);
      }
      return { count: keys.length, checksum: sha(content), detail: keys };
    },
    async neo4jState(symbols) {
      const { records } = await neo4j.executeQuery(
        `MATCH (c:Company) WHERE c.symbol IN $symbols
         OPTIONAL MATCH (c)-[r]-(o)
         WITH c, collect(type(r) + '>' + coalesce(o.symbol, o.name, o.id, '')) AS rels
         RETURN c.symbol AS symbol, labels(c) AS labels, properties(c) AS props, rels ORDER BY symbol`, { symbols });
      const rows = records.map((r) => ({
        symbol: r.get('symbol'), labels: [...r.get('labels')].sort(),
        props: Object.entries(r.get('props') as Record<string, unknown>).map(([k, v]) => [k, String(v)]).sort(),
        rels: [...r.get('rels')].sort(),
      }));
      return { count: rows.length, checksum: sha(rows), detail: rows };
    },
    async latest(symbol) {
      const close = await redis.hget(`price:${symbol}:latest`, 'close');
      const { records } = await neo4j.executeQuery('MATCH (c:Company {symbol: $symbol}) RETURN c.last_price AS p', { symbol });
      return { redis: close === null ? null : Number(close), neo4j: (records[0]?.get('p') as number | null | undefined) ?? null };
    },
    async close() {
      await pg.end();
      redis.disconnect();
      await neo4j.close();
    },
  };
}

async function scanAll(redis: Redis, match: string): Promise<string[]> {
  const out = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.add(k);
  } while (cursor !== '0');
  return [...out];
}
