// What the demo prints at the end: what landed in each store, read back with each store's own client.
import type { Config } from '../../lib/config.ts';
import { createRegistryRest } from '../../lib/registry-rest.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import { redisKeys } from '../../consumers/redis-sink.ts';
import { allTopics } from '../../topics/index.ts';

export interface DemoSummary {
  postgres: { symbol: string; rows: number; first: string; last: string }[];
  redis: { symbol: string; close: string | null; ts: string | null; source: string | null; ttlSeconds: number }[];
  neo4j: { symbol: string; lastPrice: number | null; lastUpdated: string | null; labels: string[] }[];
  subjects: { subject: string; version: number; id: number }[];
}

export async function readSummary(config: Config, symbols: readonly string[]): Promise<DemoSummary> {
  const pool = createPgPool(config, { max: 1 });
  const redis = createRedis(config);
  const driver = createNeo4jDriver(config);
  try {
    const pg = await pool.query<{ symbol: string; rows: string; first: Date; last: Date }>(
      'SELECT symbol, count(*) AS rows, min(ts) AS first, max(ts) AS last FROM price_data WHERE symbol = ANY($1) GROUP BY symbol ORDER BY symbol', [symbols]);
    await redis.connect();
    const latest = await Promise.all(symbols.map(async (symbol) => {
      const [h, ttl] = await Promise.all([redis.hgetall(redisKeys.latest(symbol)), redis.ttl(redisKeys.latest(symbol))]);
      return { symbol, close: h.close ?? null, ts: h.ts ?? null, source: h.source ?? null, ttlSeconds: ttl };
    }));
    const nodes = await driver.executeQuery(
      'MATCH (c:Stock) WHERE c.symbol IN $symbols RETURN c.symbol AS symbol, c.last_price AS lastPrice, toString(c.last_updated) AS lastUpdated, labels(c) AS labels ORDER BY symbol',
      { symbols });
    const registry = createRegistryRest(config);
    const listed = new Set(((await registry.request('GET', '/subjects')) as string[] | null) ?? []); // null while empty
    const subjects = await Promise.all(allTopics.filter((t) => listed.has(t.subject)).map(async (t) => {
      const latest = (await registry.request('GET', `/subjects/${encodeURIComponent(t.subject)}/versions/latest`)) as { version: number; id: number };
      return { subject: t.subject, version: latest.version, id: latest.id };
    }));
    return {
      postgres: pg.rows.map((r) => ({ symbol: r.symbol, rows: Number(r.rows), first: r.first.toISOString(), last: r.last.toISOString() })),
      redis: latest,
      neo4j: nodes.records.map((r) => r.toObject() as DemoSummary['neo4j'][number]),
      subjects,
    };
  } finally {
    await pool.end();
    redis.disconnect();
    await driver.close();
  }
}

export function printSummary(s: DemoSummary, out: (line: string) => void = console.log): void {
  out('\nPostgreSQL  price_data (rows per symbol)');
  for (const r of s.postgres) out(`  ${r.symbol.padEnd(6)} ${String(r.rows).padStart(6)} rows  ${r.first} … ${r.last}`);
  out('\nRedis  price:{symbol}:latest');
  for (const r of s.redis) out(`  ${r.symbol.padEnd(6)} close ${r.close ?? '-'}  at ${r.ts ?? '-'}  source ${r.source ?? '-'}  TTL ${r.ttlSeconds} s`);
  out('\nNeo4j  (:Company:Stock)');
  for (const r of s.neo4j) out(`  ${r.symbol.padEnd(6)} last_price ${r.lastPrice ?? '-'}  last_updated ${r.lastUpdated ?? '-'}  labels ${r.labels.join(':')}`);
  out('\nSchema Registry subjects (BACKWARD compatibility)');
  for (const r of s.subjects) out(`  ${r.subject.padEnd(24)} version ${r.version}  schema id ${r.id}`);
  out(`
Look further:
  marketstream topics describe                 topics, partitions, offsets, retention
  marketstream consume postgres|redis|neo4j    run one consumer group (add --instances N to scale)
  psql postgres://marketstream:marketstream@127.0.0.1:5432/marketstream -c 'select * from price_data order by ts desc limit 10'
  redis-cli hgetall price:AAPL:latest
  kafka-ui (Docker path): docker compose -f docker-compose.kafka.yml up -d, then http://localhost:8080`);
}
