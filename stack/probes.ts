// Readiness probes: does a server answer a real request? Each resolves true/false and never throws,
// so `stack up`, `stack status` and the test global setup can all use them on any address. The store clients are the
// sinks' own (lib/stores) in their one-attempt form; the Schema Registry's is lib/schema-registry-client.ts.
import { createConnection } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { createSchemaRegistryClient } from '../lib/schema-registry-client.ts';
import { createNeo4jDriver } from '../lib/stores/neo4j.ts';
import { createPgClient } from '../lib/stores/postgres.ts';
import { createRedis } from '../lib/stores/redis.ts';

const PROBE_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((res) => { timer = setTimeout(() => res(fallback), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => { socket.destroy(); res(ok); };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Kafka answers a metadata request (describeCluster) with at least one broker and a controller. With `self`, the
 * broker must also list itself (that node id on that port): a node of a cluster that is registered and unfenced.
 */
export async function probeKafka(brokers: readonly string[], self?: { nodeId: number; port: number }): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'marketstream-probe',
    brokers: [...brokers],
    connectionTimeout: 2000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const attempt = (async () => {
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0 || cluster.controller === null) return false;
      return !self || cluster.brokers.some((b) => b.nodeId === self.nodeId && b.port === self.port);
    } catch {
      return false;
    }
  })();
  const ok = await withTimeout(attempt, PROBE_TIMEOUT_MS * 2, false);
  await admin.disconnect().catch(() => undefined);
  return ok;
}

/** The Schema Registry answers GET /subjects with 2xx (AxonOps answers `null` while empty); credentials as the serde's. */
export async function probeRegistry(url: string, auth?: { username: string; password: string }): Promise<boolean> {
  const registry = createSchemaRegistryClient(
    { SCHEMA_REGISTRY_URL: url, SCHEMA_REGISTRY_USERNAME: auth?.username ?? '', SCHEMA_REGISTRY_PASSWORD: auth?.password ?? '' },
    { timeoutMs: PROBE_TIMEOUT_MS },
  );
  try {
    const { status } = await registry.answer('GET', '/subjects');
    return status >= 200 && status < 300;
  } catch {
    return false;
  }
}

/** PostgreSQL accepts the URL's credentials and answers `select 1`. */
export async function probePostgres(url: string): Promise<boolean> {
  const client = createPgClient({ POSTGRES_URL: url }, { timeoutMs: PROBE_TIMEOUT_MS });
  try {
    await client.connect();
    const res = await client.query('select 1 as ok');
    return res.rows[0]?.ok === 1;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Redis answers PING with PONG. */
export async function probeRedis(url: string): Promise<boolean> {
  const redis = createRedis({ REDIS_URL: url }, { checkTimeoutMs: PROBE_TIMEOUT_MS });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Neo4j answers `RETURN 1` over Bolt with the given credentials. */
export async function probeNeo4j(url: string, user: string, password: string): Promise<boolean> {
  const driver = createNeo4jDriver({ NEO4J_URL: url, NEO4J_USER: user, NEO4J_PASSWORD: password }, { checkTimeoutMs: PROBE_TIMEOUT_MS });
  try {
    const res = await withTimeout(driver.executeQuery('RETURN 1 AS ok'), PROBE_TIMEOUT_MS * 2, undefined);
    return res?.records[0]?.get('ok') === 1; // integers as numbers (disableLosslessIntegers)
  } catch {
    return false;
  } finally {
    await driver.close().catch(() => undefined);
  }
}
