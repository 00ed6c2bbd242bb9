// `marketstream run` (README: "every producer and every consumer group in one process"), as the real CLI against the
// running stack: it starts, its producers publish (synthetic prices for two fresh symbols on a fresh price topic, a news
// file and a profiles file of this test's own), its four consumer groups (fresh KAFKA_GROUP_PREFIX) put that into
// PostgreSQL, Redis and Neo4j, the enricher classifies the article and links it to the companies, and SIGTERM stops the
// whole process gracefully with exit 0, the groups' offsets committed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf, sinkNames } from '../../consumers/catalog.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { createRedis, type Redis } from '../../lib/stores/redis.ts';
import { deleteEventRows, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, waitFor } from '../helpers/index.ts';
import { startCli, type CliProcess } from './cli-process.ts';

describe('marketstream run', () => {
  const symbols = [randomSymbol(), randomSymbol()];
  const eventId = randomName('ev-run');
  const [sector, industry] = [randomName('Test Sector'), randomName('Test Industry')];
  const dir = mkdtempSync(path.join(tmpdir(), 'marketstream-run-'));
  const env = {
    PRICE_UPDATES_TOPIC: randomName('test-run-prices'), KAFKA_GROUP_PREFIX: randomName('test-run'), SYMBOLS: symbols.join(','),
    PRICE_SOURCE: 'synthetic', SYNTHETIC_CALENDAR: '24x7', PRICE_POLL_SECONDS: '1', // live bars at any hour the test runs
    EVENT_SOURCE: 'file', EVENT_FILE: path.join(dir, 'events.jsonl'),
    GRAPH_PROFILE_SOURCE: 'file', GRAPH_PROFILES_FILE: path.join(dir, 'profiles.json'), ANTHROPIC_API_KEY: '', LOG_LEVEL: 'info',
  };
  const config = testConfig(env);
  let kafka: Kafka;
  let pool: Pool;
  let redis: Redis;
  let neo4j: Driver;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    writeFileSync(env.EVENT_FILE, `${JSON.stringify({
      id: eventId, symbols, headline: `${symbols[0]} beats quarterly earnings estimates`, summary: `${symbols[0]} and ${symbols[1]} results.`,
      source: 'Test Wire', url: `https://example.com/${eventId}`, publishedAt: new Date(Date.now() - 60_000).toISOString(), category: 'Earnings',
    })}\n`);
    writeFileSync(env.GRAPH_PROFILES_FILE, JSON.stringify({
      profiles: symbols.map((s, i) => ({ symbol: s, name: `Run Test Corp ${i}`, sector, industry, exchange: 'TEST' })),
    }));
    kafka = testKafka(config);
    pool = createPgPool(config, { max: 2 });
    redis = createRedis(config);
    await redis.connect();
    neo4j = createNeo4jDriver(config);
  });

  afterAll(async () => {
    if (cli && cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await pool?.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    if (pool) await deleteEventRows(pool, [eventId]);
    await pool?.end();
    for (const s of symbols) await redis?.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1m`);
    redis?.disconnect();
    await neo4j?.executeQuery(
      'MATCH (n) WHERE (n:Company AND n.symbol IN $symbols) OR (n:MarketEvent AND n.id = $eventId) ' +
        'OR (n:Sector AND n.name = $sector) OR (n:Industry AND n.name = $industry) DETACH DELETE n',
      { symbols, eventId, sector, industry }).catch(() => {});
    await neo4j?.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups(sinkNames.map((n) => groupIdOf(config, n))).catch(() => {});
    await admin.disconnect();
    await deleteTestTopics(kafka, [env.PRICE_UPDATES_TOPIC, `${env.PRICE_UPDATES_TOPIC}.dlq`]);
  });

  const rows = async <T extends Record<string, unknown>>(sql: string, params: unknown[]) => (await pool.query<T>(sql, params)).rows;
  const graph = async (cypher: string) => (await neo4j.executeQuery(cypher, { symbols, eventId })).records.map((r) => r.toObject());

  it('runs every producer and consumer group in one process, into every store, and stops gracefully on SIGTERM', async () => {
    cli = startCli(['run'], env);
    const running = cli;
    await running.url(); // the one health and metrics server
    const landed = async () => {
      const prices = await rows<{ symbol: string; source: string }>(
        'SELECT DISTINCT symbol, source FROM price_data WHERE symbol = ANY($1) ORDER BY symbol', [symbols]);
      const event = await rows<{ classifier: string | null }>('SELECT classifier FROM market_events WHERE id = $1', [eventId]);
      const latest = await Promise.all(symbols.map((s) => redis.hget(`price:${s}:latest`, 'close')));
      const companies = await graph('MATCH (c:Company:Stock)-[:IN_SECTOR]->(:Sector) WHERE c.symbol IN $symbols AND c.last_price IS NOT NULL ' +
        'RETURN c.symbol AS s, c.name AS name ORDER BY s');
      const affects = await graph('MATCH (:MarketEvent {id: $eventId})-[:AFFECTS]->(c:Company) RETURN c.symbol AS s ORDER BY s');
      return { prices, event, latest: latest.map((c) => c !== null), companies, affects };
    };
    const expected = {
      prices: symbols.map((s) => ({ symbol: s, source: 'synthetic' })).sort((a, b) => a.symbol.localeCompare(b.symbol)),
      event: [{ classifier: 'rules' }],
      latest: [true, true],
      companies: symbols.map((s, i) => ({ s, name: `Run Test Corp ${i}` })).sort((a, b) => a.s.localeCompare(b.s)),
      affects: symbols.map((s) => ({ s })).sort((a, b) => a.s.localeCompare(b.s)),
    };
    let last: unknown;
    await waitFor(async () => { last = await landed(); return JSON.stringify(last) === JSON.stringify(expected); },
      { what: 'every store holding what the producers published', timeoutMs: 90_000 })
      .catch((err: Error) => { throw new Error(`${err.message}; last seen ${JSON.stringify(last)}; output ${running.output().slice(-3000)}`); });

    running.child.kill('SIGTERM');
    expect(await running.exited, running.output().slice(-3000)).toEqual({ code: 0, signal: null });
    expect(running.logs().filter((l) => l.msg === 'stopped')).toHaveLength(1);
    expect(running.logs().filter((l) => l.msg === 'sink stopped').map((l) => l.sink).sort()).toEqual(['enricher', 'features', 'neo4j-sink', 'postgres-sink', 'redis-sink']);
    // Each group that reads the price topic committed what it wrote there.
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const name of ['postgres', 'redis', 'neo4j'] as const) {
        const [t] = await admin.fetchOffsets({ groupId: groupIdOf(config, name), topics: [env.PRICE_UPDATES_TOPIC] });
        expect(t!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0), name).toBeGreaterThanOrEqual(symbols.length);
      }
    } finally {
      await admin.disconnect();
    }
  });
});
