// Every store call has a deadline, and a call past it is a retriable timeout (StoreTimeoutError), never a hang. Caused
// for real against each store:
// - PostgreSQL, a lock: another session holds LOCK TABLE price_data IN ACCESS EXCLUSIVE MODE (a few seconds at most:
//   the table is shared) while the sink, with a short POSTGRES_LOCK_TIMEOUT_MS, writes: the write fails with a
//   retriable timeout, then lands whole once the lock is released;
// - PostgreSQL, a connection whose bytes stop (TCP proxy hold()) before a statement and in the middle of the COPY: the
//   write ends at POSTGRES_QUERY_TIMEOUT_MS (once: no ROLLBACK waits behind the hung COPY), and the next write works;
// - Redis and Neo4j behind a held proxy: their calls end at REDIS_COMMAND_TIMEOUT_MS and NEO4J_QUERY_TIMEOUT_MS;
// - each store's connection dying without a word (TCP proxy stall()): the write ends at its deadline, and the retry
//   works at once on a new connection (ioredis keeps its one connection unless told to drop it);
// - Neo4j, a lock: another transaction holds a node the sink writes: the server ends the write at
//   NEO4J_TRANSACTION_TIMEOUT_MS (retriable), and it lands once the lock is gone;
// - a SinkRunner whose store call hangs (query timeout far beyond its grace) stops within its grace period, commits
//   nothing of the hung batch, and a member started afterwards writes every record.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Driver } from 'neo4j-driver';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { createNeo4jSink } from '../../consumers/neo4j/sink.ts';
import { createPostgresSink } from '../../consumers/postgres/sink.ts';
import { upsertPrices } from '../../consumers/postgres/prices.ts';
import { redisKeys } from '../../consumers/redis/keys.ts';
import { createRedisSink } from '../../consumers/redis/sink.ts';
import { startSinks } from '../../consumers/start.ts';
import type { Sink, SinkRecord, TopicHandler } from '../../consumers/types.ts';
import type { Config } from '../../lib/config.ts';
import { isRetriable, retryClass, StoreTimeoutError } from '../../lib/errors.ts';
import { groupLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { classifyPgError, createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import type { GraphMutation, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutationKey, priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const base = testConfig();
const admin = createPgPool(base, { max: 2 });
const symbols: string[] = [];
const cleanup: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
  await admin.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
  await admin.end();
});

const records = <T>(values: readonly T[], key: (v: T) => string): SinkRecord<T>[] =>
  values.map((value) => ({ value, key: key(value), timestamp: Date.now() }));
const bars = (symbol: string, n: number, close = 100) => records(Array.from({ length: n }, (_, i) => bar(symbol, i, close + i)), (v) => v.symbol);
const pricesOf = (sink: Sink) => sink.handlers.find((h) => h.topic.name === priceUpdates.name) as TopicHandler<PriceUpdate>;
const rowsOf = async (symbol: string) =>
  (await admin.query<{ close: number }>('SELECT close FROM price_data WHERE symbol = $1 ORDER BY ts', [symbol])).rows.map((r) => r.close);

/** A proxy in front of `url`'s host and port, and `url` through it; closed at the end. */
async function proxied(url: string, defaultPort: number): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || defaultPort) });
  cleanup.push(() => proxy.close());
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String(proxy.port);
  return { proxy, url: via.toString() };
}

/** How `call` settled within `patienceMs`: its error (or 'ok') and when; 'still running' when it had not by then. */
async function settle(call: () => Promise<unknown>, patienceMs: number): Promise<{ err: unknown; ms: number }> {
  const started = Date.now();
  const outcome = await Promise.race([call().then(() => 'ok', (e: unknown) => e), sleep(patienceMs, 'still running')]);
  return { err: outcome, ms: Date.now() - started };
}

function expectTimeout(err: unknown, store: string): void {
  expect(err).toBeInstanceOf(StoreTimeoutError);
  expect((err as StoreTimeoutError).store).toBe(store);
  expect(isRetriable(err)).toBe(true);
  expect(retryClass(err)).toBe('transient');
}

describe('PostgreSQL deadlines', () => {
  it('a table locked by another session: the write fails with a retriable timeout, and lands whole once the lock is released', async () => {
    const symbol = randomSymbol();
    symbols.push(symbol);
    const sink = createPostgresSink({ ...base, POSTGRES_LOCK_TIMEOUT_MS: 1000 });
    cleanup.push(() => sink.close());
    await sink.connect();
    const batch = bars(symbol, 5);
    const locker = new pg.Client({ connectionString: base.POSTGRES_URL });
    await locker.connect();
    cleanup.push(() => locker.end());
    // Held a few seconds at most: other tests share the table. The server ends it too if this test dies meanwhile.
    await locker.query("SET idle_in_transaction_session_timeout = '8s'");
    await locker.query("SET lock_timeout = '3s'");
    await waitFor(async () => {
      await locker.query('BEGIN');
      try {
        await locker.query('LOCK TABLE price_data IN ACCESS EXCLUSIVE MODE');
        return true;
      } catch {
        await locker.query('ROLLBACK');
        return false;
      }
    }, { what: 'the lock on price_data', timeoutMs: 20_000 });
    let locked = true;
    try {
      const { err, ms } = await settle(() => pricesOf(sink).writeBatch(batch), 4000);
      await locker.query('COMMIT');
      locked = false;
      expectTimeout(err, 'PostgreSQL');
      expect(ms).toBeLessThan(3000);
    } finally {
      if (locked) await locker.query('COMMIT').catch(() => {});
    }
    await pricesOf(sink).writeBatch(batch); // as the runner retries it
    expect(await rowsOf(symbol)).toEqual([100, 101, 102, 103, 104]);
  });

  it('a connection whose bytes stop, before a statement: the write ends at the query timeout, and the next one works', async () => {
    const symbol = randomSymbol();
    symbols.push(symbol);
    const { proxy, url } = await proxied(base.POSTGRES_URL, 5432);
    const sink = createPostgresSink({ ...base, POSTGRES_URL: url, POSTGRES_QUERY_TIMEOUT_MS: 2000, POSTGRES_SINK_POOL_SIZE: 1 });
    cleanup.push(() => sink.close());
    await sink.connect();
    await pricesOf(sink).writeBatch(bars(symbol, 2, 50));
    proxy.hold();
    const { err, ms } = await settle(() => pricesOf(sink).writeBatch(bars(symbol, 3)), 10_000);
    proxy.release();
    expectTimeout(err, 'PostgreSQL');
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(3500);
    await pricesOf(sink).writeBatch(bars(symbol, 3));
    expect(await rowsOf(symbol)).toEqual([100, 101, 102]);
  });

  it('a connection whose bytes stop in the middle of the COPY: the write ends at the query timeout, once (no ROLLBACK waits behind it)', async () => {
    const symbol = randomSymbol();
    symbols.push(symbol);
    const { proxy, url } = await proxied(base.POSTGRES_URL, 5432);
    const pool = createPgPool({ ...base, POSTGRES_URL: url, POSTGRES_QUERY_TIMEOUT_MS: 2000 }, { max: 1 });
    cleanup.push(() => pool.end());
    // The real pool, its connections held the moment the COPY starts (a COPY is the one query pg is given a stream for).
    const holdingAtCopy = {
      connect: async () => {
        const client = await pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        (client as { query: unknown }).query = (config: { submit?: unknown }, ...rest: unknown[]) => {
          if (typeof config?.submit === 'function') proxy.hold();
          return query(config, ...rest);
        };
        return client;
      },
    } as unknown as Pool;
    const rows = Array.from({ length: 20_000 }, (_, i) => bar(symbol, i, 100, { interval: '1m', eventTime: Date.UTC(2026, 0, 5) + i * 60_000 }));
    const { err, ms } = await settle(() => upsertPrices(holdingAtCopy, rows), 10_000);
    expect(proxy.held(), 'COPY data held').toBeGreaterThan(0);
    proxy.release();
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('Query read timeout');
    expectTimeout(classifyPgError(err), 'PostgreSQL');
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms, 'one query timeout, not one more for a ROLLBACK behind it').toBeLessThan(3500);
    await upsertPrices(pool, rows);
    expect((await rowsOf(symbol)).length).toBe(20_000);
  });
});

describe('Redis and Neo4j deadlines', () => {
  it('Redis behind a held connection: the write ends at the command timeout, and the next one works', async () => {
    const symbol = randomSymbol();
    const { proxy, url } = await proxied(base.REDIS_URL, 6379);
    const config: Config = { ...base, REDIS_URL: url, REDIS_COMMAND_TIMEOUT_MS: 1000 };
    const sink = createRedisSink(config);
    cleanup.push(() => sink.close());
    const direct = createRedis(base);
    cleanup.push(async () => {
      await direct.del(redisKeys.latest(symbol), redisKeys.watermark(symbol), redisKeys.bars(symbol, '1h'));
      await direct.quit();
    });
    await sink.connect();
    await pricesOf(sink).writeBatch(bars(symbol, 1));
    proxy.hold();
    const { err, ms } = await settle(() => pricesOf(sink).writeBatch(bars(symbol, 3)), 10_000);
    proxy.release();
    expectTimeout(err, 'Redis');
    expect(ms).toBeLessThan(2500);
    await pricesOf(sink).writeBatch(bars(symbol, 3));
    expect(await direct.zcard(redisKeys.bars(symbol, '1h'))).toBe(3);
  });

  it('Neo4j behind a held connection: a query and a transaction end at the query timeout, and the next write works', async () => {
    const [a, b] = [randomSymbol(), randomSymbol()];
    const { proxy, url } = await proxied(base.NEO4J_URL, 7687);
    const sink = createNeo4jSink({ ...base, NEO4J_URL: url, NEO4J_QUERY_TIMEOUT_MS: 1500 });
    cleanup.push(() => sink.close());
    const direct: Driver = createNeo4jDriver(base);
    cleanup.push(async () => {
      await direct.executeQuery('MATCH (c:Company) WHERE c.symbol IN $s DETACH DELETE c', { s: [a, b] });
      await direct.close();
    });
    await sink.connect();
    await pricesOf(sink).writeBatch(bars(a, 1));
    const mutation: GraphMutation = {
      mutationTime: Date.now(), origin: 'correlation', enrichment: null,
      op: { UpsertRelationship: { type: 'CORRELATED_WITH', from: { label: 'Company', key: a }, to: { label: 'Company', key: b },
        properties: { coefficient: 0.87, window_days: 30n, method: 'pearson', symbols: [a, b], note: null, significant: true } } },
    };
    const mutations = sink.handlers.find((h) => h.topic.name !== priceUpdates.name) as TopicHandler<GraphMutation>;
    proxy.hold();
    const query = await settle(() => pricesOf(sink).writeBatch(bars(a, 3)), 10_000);
    const transaction = await settle(() => mutations.writeBatch(records([mutation], graphMutationKey)), 10_000);
    proxy.release();
    for (const { err, ms } of [query, transaction]) {
      expectTimeout(err, 'Neo4j');
      expect(ms).toBeLessThan(2900);
    }
    await pricesOf(sink).writeBatch(bars(a, 3));
    const { records: [c] } = await direct.executeQuery('MATCH (c:Company {symbol: $s}) RETURN c.last_price AS p', { s: a });
    expect(c?.get('p')).toBe(102);
  });
});

describe('a connection that dies without a word', () => {
  // What the proxy stall()s is gone for good: the call on it ends at its deadline, and the retry gets a new connection.
  it.each([
    ['PostgreSQL', (url: string) => createPostgresSink({ ...base, POSTGRES_URL: url, POSTGRES_QUERY_TIMEOUT_MS: 1500, POSTGRES_SINK_POOL_SIZE: 1 }),
      base.POSTGRES_URL, 5432],
    ['Redis', (url: string) => createRedisSink({ ...base, REDIS_URL: url, REDIS_COMMAND_TIMEOUT_MS: 1000 }), base.REDIS_URL, 6379],
    ['Neo4j', (url: string) => createNeo4jSink({ ...base, NEO4J_URL: url, NEO4J_QUERY_TIMEOUT_MS: 1500 }), base.NEO4J_URL, 7687],
  ] as const)('%s: the write ends at its deadline, and the next one works on a new connection', async (store, create, target, port) => {
    const symbol = randomSymbol();
    symbols.push(symbol);
    const { proxy, url } = await proxied(target, port);
    const sink = create(url);
    cleanup.push(() => sink.close());
    await sink.connect();
    await pricesOf(sink).writeBatch(bars(symbol, 1));
    proxy.stall();
    const { err } = await settle(() => pricesOf(sink).writeBatch(bars(symbol, 2)), 10_000);
    expectTimeout(err, store);
    const retry = await settle(() => pricesOf(sink).writeBatch(bars(symbol, 2)), 10_000);
    expect(retry.err).toBe('ok');
    expect(retry.ms).toBeLessThan(3000);
  });
});

describe('Neo4j transaction timeout', () => {
  it('a node another transaction holds locked: the write is terminated at the transaction timeout, retriable, and lands afterwards', async () => {
    const symbol = randomSymbol();
    const sink = createNeo4jSink({ ...base, NEO4J_TRANSACTION_TIMEOUT_MS: 1000, NEO4J_QUERY_TIMEOUT_MS: 15_000 });
    cleanup.push(() => sink.close());
    const direct: Driver = createNeo4jDriver(base);
    cleanup.push(async () => {
      await direct.executeQuery('MATCH (c:Company {symbol: $s}) DETACH DELETE c', { s: symbol });
      await direct.close();
    });
    await sink.connect();
    await pricesOf(sink).writeBatch(bars(symbol, 1));
    const session = direct.session();
    const locker = session.beginTransaction({ timeout: 8000 }); // ended by the server too, should this test die meanwhile
    try {
      await locker.run('MATCH (c:Company {symbol: $s}) SET c.locked_by_test = true', { s: symbol });
      const { err, ms } = await settle(() => pricesOf(sink).writeBatch(bars(symbol, 3)), 6000);
      expectTimeout(err, 'Neo4j');
      expect(String((err as Error).message)).toMatch(/NEO4J_TRANSACTION_TIMEOUT_MS/);
      expect(ms).toBeLessThan(4000);
    } finally {
      await locker.rollback().catch(() => {});
      await session.close();
    }
    await pricesOf(sink).writeBatch(bars(symbol, 3));
    const { records: [c] } = await direct.executeQuery('MATCH (c:Company {symbol: $s}) RETURN c.last_price AS p', { s: symbol });
    expect(c?.get('p')).toBe(102);
  });
});

describe('shutdown while a store call hangs', () => {
  it('a SinkRunner whose write hangs stops within its grace period; nothing of the hung batch is committed, and nothing is lost', async () => {
    const kafka = testKafka(base);
    const logger = testLogger('store-deadlines');
    const topic = withName(priceUpdates, randomName('test-deadlines'));
    cleanup.push(() => deleteTestTopics(kafka, [topic.name, topic.dlq]));
    const symbol = randomSymbol();
    symbols.push(symbol);
    const { proxy, url } = await proxied(base.POSTGRES_URL, 5432);
    // The hung call would end only after a minute: far beyond the grace (min(10 s, SHUTDOWN_GRACE_SECONDS / 2) = 2 s).
    const config: Config = {
      ...base, KAFKA_GROUP_PREFIX: randomName('test-deadlines'), TOPIC_PARTITIONS: 1, POSTGRES_URL: url, POSTGRES_QUERY_TIMEOUT_MS: 60_000,
      POSTGRES_STATEMENT_TIMEOUT_MS: 60_000, SHUTDOWN_GRACE_SECONDS: 4,
    };
    const graceMs = 2000;
    await ensureTopics(kafka, config, [topic]);
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    const publish = (from: number, to: number) =>
      publisher.send(topic, Array.from({ length: to - from }, (_, i) => bar(symbol, from + i, 100 + from + i)), { source: 'test' });

    const sinks = await startSinks({ config, logger, names: ['postgres'], topics: { prices: topic } });
    let stopped = false;
    cleanup.push(async () => { if (!stopped) await sinks.stop(); });
    await publish(0, 10);
    await waitFor(async () => (await rowsOf(symbol)).length === 10, { what: 'the first 10 bars', timeoutMs: 60_000 });
    proxy.hold();
    await publish(10, 20);
    await waitFor(() => proxy.held() > 0, { what: 'a write in flight', timeoutMs: 30_000 });
    await publish(20, 30); // fetched while that write hangs: its batch waits for the partition's turn
    await sleep(1500);
    const started = Date.now();
    const stopping = sinks.stop();
    const outcome = await Promise.race([stopping.then(() => 'stopped'), sleep(graceMs + 8000, 'still stopping')]);
    const ms = Date.now() - started;
    stopped = true;
    proxy.release();
    expect(outcome).toBe('stopped');
    expect(ms).toBeLessThan(graceMs + 1500);
    const groupId = groupIdOf(config, 'postgres');
    const committed = await groupLag(kafka, groupId, [topic.name]);
    expect(committed.map((p) => p.lag), 'only the first 10 records committed').toEqual([20]);

    // A member started afterwards (store reachable) writes all of them.
    const again = await startSinks({ config: { ...config, POSTGRES_URL: base.POSTGRES_URL }, logger, names: ['postgres'], topics: { prices: topic } });
    cleanup.push(() => again.stop());
    await waitFor(async () => (await rowsOf(symbol)).length === 30, { what: 'all 30 bars', timeoutMs: 60_000 });
    expect(await rowsOf(symbol)).toEqual(Array.from({ length: 30 }, (_, i) => 100 + i));
  }, 120_000);
});
