// What the demo prints at the end: what landed in each store, read back with each store's own client.
import { neo4jDatabase, type Config } from '../../lib/config.ts';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import { redisKeys } from '../../consumers/redis/keys.ts';
import { allTopics } from '../../topics/index.ts';
import { cliInvocation } from '../invocation.ts';
import { latestFeatures, type FeaturesLine } from './stats.ts';

export interface DemoSummary {
  postgres: { symbol: string; rows: number; first: string; last: string }[];
  redis: { symbol: string; close: string | null; ts: string | null; source: string | null; ttlSeconds: number }[];
  neo4j: { symbol: string; lastPrice: number | null; lastUpdated: string | null; labels: string[] }[];
  features: FeaturesLine[];
  subjects: { subject: string; version: number; id: number }[];
  events: {
    total: number; enriched: number;
    latest: { publishedAt: string; symbols: string[]; type: string | null; sentiment: string | null; classifier: string | null; headline: string }[];
  };
  graph: {
    counts: { affects: number; inSector: number; correlated: number; competes: number };
    correlated: { a: string; b: string; coefficient: number }[];
    focus: { symbol: string; sector: string | null; industry: string | null; competitors: string[]; correlated: string[]; events: string[] };
  };
}

export async function readSummary(config: Config, symbols: readonly string[]): Promise<DemoSummary> {
  const pool = createPgPool(config, { max: 1 });
  const redis = createRedis(config);
  const driver = createNeo4jDriver(config);
  const database = neo4jDatabase(config);
  try {
    const pg = await pool.query<{ symbol: string; rows: string; first: Date; last: Date }>(
      'SELECT symbol, count(*) AS rows, min(ts) AS first, max(ts) AS last FROM price_data WHERE symbol = ANY($1) GROUP BY symbol ORDER BY symbol', [symbols]);
    await redis.connect();
    const latest = await Promise.all(symbols.map(async (symbol) => {
      const [h, ttl] = await Promise.all([redis.hgetall(redisKeys.latest(symbol)), redis.ttl(redisKeys.latest(symbol))]);
      return { symbol, close: h.close ?? null, ts: h.ts ?? null, source: h.source ?? null, ttlSeconds: ttl };
    }));
    const nodes = await driver.executeQuery(
      'MATCH (c:Stock) WHERE c.symbol IN $symbols ' +
        'RETURN c.symbol AS symbol, c.last_price AS lastPrice, toString(c.last_updated) AS lastUpdated, labels(c) AS labels ORDER BY symbol',
      { symbols }, { database });
    const registry = createSchemaRegistryClient(config);
    const listed = new Set(((await registry.request('GET', '/subjects')) as string[] | null) ?? []); // null while empty
    const subjects = await Promise.all(allTopics.filter((t) => listed.has(t.subject)).map(async (t) => {
      const latest = (await registry.request('GET', `/subjects/${encodeURIComponent(t.subject)}/versions/latest`)) as { version: number; id: number };
      return { subject: t.subject, version: latest.version, id: latest.id };
    }));
    const events = await pool.query<{ total: string; enriched: string }>('SELECT count(*) AS total, count(classifier) AS enriched FROM market_events');
    const latestEvents = await pool.query<{
      published_at: Date; symbols: string[]; type: string | null; sentiment: string | null; classifier: string | null; headline: string;
    }>(
      'SELECT published_at, symbols, type, sentiment, classifier, headline FROM market_events WHERE classifier IS NOT NULL ORDER BY published_at DESC LIMIT 5');
    const one = async (q: string, p: Record<string, unknown> = {}) => (await driver.executeQuery(q, p, { database })).records.map((r) => r.toObject());
    const [counts] = await one(`RETURN
      COUNT { (:MarketEvent)-[:AFFECTS]->(:Company) } AS affects, COUNT { (:Company)-[:IN_SECTOR]->(:Sector) } AS inSector,
      COUNT { (:Company)-[:CORRELATED_WITH]->(:Company) } AS correlated, COUNT { (:Company)-[:COMPETES_WITH]->(:Company) } AS competes`);
    const correlated = await one('MATCH (a:Company)-[r:CORRELATED_WITH]->(b:Company) ' +
      'RETURN a.symbol AS a, b.symbol AS b, r.coefficient AS coefficient ORDER BY abs(r.coefficient) DESC LIMIT 10');
    const focusSymbol = symbols[0] ?? 'AAPL';
    const [focus] = await one(`MATCH (c:Company {symbol: $symbol})
      OPTIONAL MATCH (c)-[:IN_SECTOR]->(s:Sector) OPTIONAL MATCH (c)-[:IN_INDUSTRY]->(i:Industry)
      RETURN s.name AS sector, i.name AS industry,
        [(c)-[r:COMPETES_WITH]-(o:Company) | o.symbol + ' (' + r.source + ', ' + toString(r.confidence) + ')'] AS competitors,
        [(c)-[r:CORRELATED_WITH]-(o:Company) | o.symbol + ' (r=' + toString(round(r.coefficient, 2)) + ')'] AS correlated,
        [(e:MarketEvent)-[r:AFFECTS]->(c) | e.type + '/' + e.sentiment + ': ' + e.headline][0..5] AS events`, { symbol: focusSymbol });
    return {
      events: {
        total: Number(events.rows[0]?.total ?? 0), enriched: Number(events.rows[0]?.enriched ?? 0),
        latest: latestEvents.rows.map((r) => ({
          publishedAt: r.published_at.toISOString(), symbols: r.symbols, type: r.type, sentiment: r.sentiment, classifier: r.classifier, headline: r.headline,
        })),
      },
      graph: {
        counts: counts as DemoSummary['graph']['counts'],
        correlated: correlated as DemoSummary['graph']['correlated'],
        focus: {
          symbol: focusSymbol, sector: null, industry: null, competitors: [], correlated: [], events: [], ...(focus ?? {}),
        } as DemoSummary['graph']['focus'],
      },
      postgres: pg.rows.map((r) => ({ symbol: r.symbol, rows: Number(r.rows), first: r.first.toISOString(), last: r.last.toISOString() })),
      redis: latest,
      neo4j: nodes.records.map((r) => r.toObject() as DemoSummary['neo4j'][number]),
      features: await latestFeatures(pool, symbols),
      subjects,
    };
  } finally {
    await pool.end();
    redis.disconnect();
    await driver.close();
  }
}

/** `cli`: how the printed commands start (what runs this CLI from the user's shell: ../invocation.ts). */
export function printSummary(s: DemoSummary, out: (line: string) => void = console.log, cli = cliInvocation()): void {
  out('\nPostgreSQL  price_data (rows per symbol)');
  for (const r of s.postgres) out(`  ${r.symbol.padEnd(6)} ${String(r.rows).padStart(6)} rows  ${r.first} … ${r.last}`);
  out('\nRedis  price:{symbol}:latest');
  for (const r of s.redis) out(`  ${r.symbol.padEnd(6)} close ${r.close ?? '-'}  at ${r.ts ?? '-'}  source ${r.source ?? '-'}  TTL ${r.ttlSeconds} s`);
  out('\nNeo4j  (:Company:Stock)');
  for (const r of s.neo4j) out(`  ${r.symbol.padEnd(6)} last_price ${r.lastPrice ?? '-'}  last_updated ${r.lastUpdated ?? '-'}  labels ${r.labels.join(':')}`);
  out('\nPostgreSQL  price_features (the newest bar of each symbol, computed by the features group)');
  for (const f of s.features) {
    const v = (x: number | null, digits: number) => (x === null ? '-' : x.toFixed(digits));
    const bar = `${f.symbol.padEnd(6)} ${f.interval.padEnd(3)} bar ${String(f.bars).padStart(5)}`;
    out(`  ${bar}  RSI(14) ${v(f.rsi, 2)}  MACD ${v(f.macd, 4)}  SMA(20) ${v(f.sma, 2)}`);
  }
  out(`\nPostgreSQL  market_events: ${s.events.total} events, ${s.events.enriched} enriched; latest enriched:`);
  for (const e of s.events.latest) {
    out(`  ${e.publishedAt.slice(0, 16)}  ${e.symbols.join(',').padEnd(10)} ${`${e.type}/${e.sentiment}`.padEnd(28)} [${e.classifier}] ${e.headline}`);
  }
  const g = s.graph;
  out(`\nNeo4j  graph: ${g.counts.affects} (:MarketEvent)-[:AFFECTS]->(:Company), ${g.counts.inSector} (:Company)-[:IN_SECTOR]->(:Sector), ` +
    `${g.counts.competes} COMPETES_WITH, ${g.counts.correlated} CORRELATED_WITH`);
  for (const c of g.correlated) out(`  ${c.a} -[:CORRELATED_WITH {coefficient: ${c.coefficient.toFixed(3)}}]- ${c.b}`);
  out(`\nNeo4j  neighbourhood of ${g.focus.symbol}`);
  out(`  sector ${g.focus.sector ?? '-'}, industry ${g.focus.industry ?? '-'}`);
  out(`  competes with: ${g.focus.competitors.join(', ') || '-'}`);
  out(`  correlated with: ${g.focus.correlated.join(', ') || '-'}`);
  for (const e of g.focus.events) out(`  affected by: ${e}`);
  out('\nSchema Registry subjects (BACKWARD compatibility)');
  for (const r of s.subjects) out(`  ${r.subject.padEnd(24)} version ${r.version}  schema id ${r.id}`);
  out(`
Look further:
  ${cli} inspect topics | groups          partitions, offsets, retention; members and lag per partition
  ${cli} inspect tail price-updates --last 5   decoded records with schema id and version
  ${cli} inspect tail market-events.dlq  dead-lettered records with their error headers
  ${cli} consume postgres|redis|neo4j    run one consumer group (add --instances N to scale)
  psql postgres://marketstream:marketstream@127.0.0.1:5432/marketstream -c 'select * from price_data order by ts desc limit 10'
  redis-cli hgetall price:AAPL:latest
  Neo4j Browser or cypher-shell: MATCH (e:MarketEvent)-[r:AFFECTS]->(c:Company) RETURN e.headline, c.symbol, r.relevance
  kafka-ui (Docker path): docker compose -f docker-compose.kafka.yml up -d, then http://127.0.0.1:8080`);
}
