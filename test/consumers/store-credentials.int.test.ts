// A store that refuses the sink (credentials taken away, a privilege revoked) is down, not bad data: against each real
// store, in the middle of a stream, the sink's own dedicated user (created per test, never the shared one) loses its
// password or a privilege, then gets it back. Meanwhile the group pauses and retries (lag grows, nothing committed
// past the unwritten records), /ready turns 503 once STALL_SECONDS pass without progress, and /health names the
// failure by a stable description (class and code), never the driver's text nor a secret. Afterwards every record has
// landed exactly once and the DLQ holds none of them.
//   PostgreSQL: a role owning a scratch database (the sink's connect migrates it); ALTER ROLE … PASSWORD and
//               pg_terminate_backend (28P01 on reconnect), then REVOKE INSERT (42501).
//   Redis:      an ACL user; ACL SETUSER … resetpass and CLIENT KILL USER (WRONGPASS on reconnect).
//   Neo4j:      a user in the system database (the local Neo4j runs with auth on); ALTER USER … SET PASSWORD and
//               dbms.killConnections (Neo.ClientError.Security.Unauthorized, then AuthenticationRateLimit).
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import neo4j, { type Driver } from 'neo4j-driver';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { groupIdOf, type StoreName } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { POSTGRES_SOCKET_DIR } from '../../stack/services/postgres.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, readDlq, testConfig, testKafka, waitFor } from '../helpers/index.ts';

const STALL_SECONDS = 2;
const base = testConfig();
const kafka = testKafka(base);

/** A password no other test uses, long enough for Neo4j (8 characters at least). */
const newPassword = () => randomName('pw').replace(/-/g, '');

interface Outage {
  /** Takes the store away from the sink's user. */
  refuse(): Promise<void>;
  restore(): Promise<void>;
  /** What /health must name the failure by while refused (the group's last retry, and the sink's dependency when its ping fails too). */
  retryError: RegExp;
  dependencyError?: RegExp;
}

interface Store {
  /** The sink's configuration: its store reached as the dedicated user. */
  config: Partial<Config>;
  /** The i-th record of the stream. */
  record(i: number): PriceUpdate;
  /** What the store holds of the records sent, in a canonical form comparable with expected(). */
  snapshot(): Promise<string[]>;
  expected(sent: readonly PriceUpdate[]): string[];
  /** Every secret of the test, which no log line nor endpoint may show. */
  secrets: string[];
}

/**
 * Streams records to the sink (running with observability, as `consume` does) while `outage` happens: checks the pause,
 * the stall and the descriptions while refused, then that everything landed once and nothing was dead-lettered.
 */
async function streamThroughOutage(name: StoreName, store: Store, outage: Outage): Promise<void> {
  const topics = {
    prices: withName(priceUpdates, randomName('test-prices')),
    events: withName(marketEvents, randomName('test-events')),
    mutations: withName(graphMutations, randomName('test-graph')),
  };
  const config: Config = {
    ...base, KAFKA_GROUP_PREFIX: randomName('test-creds'), SINK_RETRY_MAX_MS: 500, STALL_SECONDS, LAG_REFRESH_SECONDS: 0.3,
    METRICS_PORT: 0, METRICS_HOST: '127.0.0.1', ...store.config,
  };
  const lines: string[] = [];
  const logger = createLogger({
    level: 'info', format: 'json', destination: { write: (s: string) => { lines.push(s); return true; } } as unknown as NodeJS.WritableStream,
  });
  const groupId = groupIdOf(config, name);
  let obs: Observability | undefined;
  let running: RunningSinks | undefined;
  let publisher: Publisher | undefined;
  const sent: PriceUpdate[] = [];
  let producing = true;
  let producer: Promise<void> | undefined;
  const endpoint = async (path: string) => {
    const res = await fetch(`${obs!.url}${path}`);
    return { status: res.status, text: await res.text() };
  };
  const seen: string[] = [];
  try {
    obs = await startObservability({ config, logger, command: `consume ${name}` });
    const hooks = obs.sinkHooks;
    let retries = 0;
    running = await startSinks({ config, logger, names: [name], topics, hooks: { ...hooks, onRetry: (e) => { retries++; hooks.onRetry?.(e); } } });
    obs.started();
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    const p = publisher;
    producer = (async () => {
      while (producing) {
        const batch = [0, 1, 2, 3].map((k) => store.record(sent.length + k));
        await p.send(topics.prices, batch, { source: 'test' });
        sent.push(...batch);
        await sleep(150);
      }
    })();
    const landed = async () => JSON.stringify(await store.snapshot()) === JSON.stringify(store.expected(sent));
    await waitFor(async () => (await store.snapshot()).length >= 8, { what: 'the first records in the store', timeoutMs: 60_000 });
    await waitFor(async () => (await endpoint('/ready')).status === 200, { what: `${name} ready before the outage`, timeoutMs: 60_000 });

    await outage.refuse();
    try {
      // Refused: the group stops making progress, keeps its lag (nothing committed past what was not written) and,
      // after STALL_SECONDS, /ready says it is stalled; /health names the failure by class and code.
      const stalled = await waitFor(async () => {
        const r = await endpoint('/ready');
        seen.push(r.text);
        return r.status === 503 && r.text.includes(`${groupId}: stalled`) ? r : undefined;
      }, { what: `/ready to report ${groupId} stalled`, timeoutMs: 60_000, intervalMs: 300 });
      expect(stalled.status).toBe(503);
      // Stalled: nothing was written for STALL_SECONDS, so every commit of what was written before is in. From here the
      // committed offsets must not move while the records keep coming and the group keeps failing to write them.
      const before = await committedOffsets(groupId, topics.prices.name);
      const moved: string[] = [];
      const check = async () => { const now = await committedOffsets(groupId, topics.prices.name); if (now !== before) moved.push(now); };
      const retried = retries;
      const health = await waitFor(async () => {
        const h = await endpoint('/health');
        seen.push(h.text);
        const body = JSON.parse(h.text) as {
          groups: Record<string, { lastRetryError?: string; stalled: boolean }>; dependencies: Record<string, { status: string; error?: string }>;
        };
        const group = body.groups[groupId];
        const dependency = body.dependencies[`${name}-sink`];
        const named = outage.retryError.test(group?.lastRetryError ?? '')
          && (!outage.dependencyError || (dependency?.status === 'down' && outage.dependencyError.test(dependency.error ?? '')));
        if (h.status === 503 && group?.stalled && named) return body;
        throw new Error(`/health ${h.status}: stalled ${group?.stalled}, last retry ${JSON.stringify(group?.lastRetryError)}, ` +
          `${name}-sink ${JSON.stringify(dependency)}`);
      }, { what: `/health to name the failure (${outage.retryError})`, timeoutMs: 60_000, intervalMs: 300 });
      expect(health.groups[groupId]!.lastRetryError).toMatch(outage.retryError);
      await waitFor(async () => { await check(); return retries >= retried + 2; },
        { what: 'two more failed writes while refused', timeoutMs: 60_000, intervalMs: 200 });
      await check();
      expect(moved, `committed offsets moved while refused (were ${before})`).toEqual([]);
      expect(await totalLag(kafka, groupId, [topics.prices.name])).toBeGreaterThan(0);
    } finally {
      await outage.restore();
    }

    // Given back: the stream goes on a little, then everything sent lands (once) and the group is ready again.
    await sleep(1000);
    producing = false;
    await producer;
    await waitFor(landed, { what: `all ${sent.length} records in the store after the outage`, timeoutMs: 90_000 });
    expect(await store.snapshot()).toEqual(store.expected(sent));
    await waitFor(async () => (await totalLag(kafka, groupId, [topics.prices.name])) === 0, { what: 'the group to commit everything' });
    await waitFor(async () => (await endpoint('/ready')).status === 200, { what: `${name} ready again`, timeoutMs: 30_000 });
    seen.push((await endpoint('/health')).text);
    expect(await readDlq(kafka, topics.prices.dlq, [...new Set(sent.map((r) => r.symbol))], 0)).toEqual([]);

    // Nothing the operators see shows a secret, a stack trace or the driver's raw text.
    const shown = seen.join('\n');
    for (const secret of store.secrets) {
      expect(shown.includes(secret), '/health or /ready shows a secret').toBe(false);
      expect(lines.join('\n').includes(secret), 'the logs show a secret').toBe(false);
    }
    expect(shown).not.toMatch(/\n\s+at |password authentication failed|permission denied|invalid username-password|unauthorized due to authentication/);
  } finally {
    producing = false;
    await producer?.catch(() => {});
    obs?.stopping();
    await running?.stop();
    await obs?.close();
    await publisher?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  }
}

/** The group's committed offset per partition of `topic`, as one comparable string. */
async function committedOffsets(groupId: string, topic: string): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).map((p) => `${p.partition}:${p.offset}`).sort().join(',');
  } finally {
    await admin.disconnect();
  }
}

/** Bars of two symbols, one per hour: every record a distinct (symbol, event time), so each is one row or one member. */
function barStream() {
  const symbols = [randomSymbol(), randomSymbol()];
  return { symbols, record: (i: number) => bar(symbols[i % 2]!, i, 100 + i) };
}
const barKey = (r: { symbol: string; ts: number; close: number }) => `${r.symbol}|${r.ts}|${r.close}`;
const expectedBars = (sent: readonly PriceUpdate[]) => sent.map((r) => barKey({ symbol: r.symbol, ts: r.eventTime, close: r.close })).sort();

// ── PostgreSQL ──────────────────────────────────────────────

/**
 * A client that may create roles and databases: the configured role when it may (Docker's POSTGRES_USER is a
 * superuser), else the local stack's `postgres` superuser over its Unix socket.
 */
async function pgAdmin(database?: string): Promise<pg.Client> {
  const url = new URL(base.POSTGRES_URL);
  const candidates: pg.ClientConfig[] = [
    { connectionString: base.POSTGRES_URL, ...(database ? { database } : {}) },
    { host: POSTGRES_SOCKET_DIR, port: Number(url.port || 5432), user: 'postgres', database: database ?? 'postgres' },
  ];
  for (const c of candidates) {
    const client = new pg.Client({ ...c, connectionTimeoutMillis: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT rolsuper AS ok FROM pg_roles WHERE rolname = current_user');
      if (rows[0]?.ok) return client;
    } catch { /* next */ }
    await client.end().catch(() => {});
  }
  throw new Error('no PostgreSQL superuser reachable (the configured role, or postgres over the local socket) to create a test role');
}

describe('postgres-sink when PostgreSQL refuses its role', () => {
  const role = randomName('test_sink').replace(/-/g, '_');
  const database = randomName('test_creds').replace(/-/g, '_');
  const password = newPassword();
  const other = newPassword();
  let admin: pg.Client;
  let scratch: pg.Client;

  beforeAll(async () => {
    admin = await pgAdmin();
    // Identifiers cannot be parameters; these are random names made above.
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${database} OWNER ${role}`);
    scratch = await pgAdmin(database);
  });
  afterAll(async () => {
    await scratch?.end().catch(() => {});
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await admin?.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin?.end().catch(() => {});
  });

  const roleUrl = () => {
    const u = new URL(base.POSTGRES_URL);
    u.username = role;
    u.password = password;
    u.pathname = `/${database}`;
    return u.toString();
  };
  const store = (): Store => {
    const stream = barStream();
    return {
      config: { POSTGRES_URL: roleUrl() },
      record: stream.record,
      async snapshot() {
        const { rows } = await scratch.query<{ symbol: string; ts: number; close: number }>(
          `SELECT symbol, (extract(epoch FROM ts) * 1000)::float8 AS ts, close FROM price_data WHERE symbol = ANY($1)`, [stream.symbols])
          .catch(() => ({ rows: [] }));
        return rows.map(barKey).sort();
      },
      expected: expectedBars,
      secrets: [password, other],
    };
  };
  const terminate = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);

  it('a changed password (28P01, connections terminated) pauses the group until it is restored: all records land once, none in the DLQ', async () => {
    await streamThroughOutage('postgres', store(), {
      async refuse() { await admin.query(`ALTER ROLE ${role} PASSWORD '${other}'`); await terminate(); },
      async restore() { await admin.query(`ALTER ROLE ${role} PASSWORD '${password}'`); },
      retryError: /^TransientError: PostgreSQL unavailable \(28P01\)$/,
      dependencyError: /^PostgreSQL unavailable \(28P01\)$/,
    });
  });

  it('a revoked INSERT privilege (42501) pauses the group until it is granted again: all records land once, none in the DLQ', async () => {
    await streamThroughOutage('postgres', store(), {
      async refuse() { await scratch.query(`REVOKE INSERT ON price_data FROM ${role}`); },
      async restore() { await scratch.query(`GRANT INSERT ON price_data TO ${role}`); },
      retryError: /^TransientError: PostgreSQL unavailable \(42501\)$/,
    });
  });
});

// ── Redis ────────────────────────────────────────────────

describe('redis-sink when Redis refuses its user', () => {
  const user = randomName('test-sink');
  const password = newPassword();
  const other = newPassword();
  const admin = new Redis(base.REDIS_URL, { lazyConnect: true });
  admin.on('error', () => {});
  let symbols: string[] = [];

  beforeAll(async () => {
    await admin.connect();
    await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
  });
  afterAll(async () => {
    await admin.call('ACL', 'DELUSER', user).catch(() => {});
    for (const s of symbols) await admin.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`).catch(() => {});
    admin.disconnect();
  });

  it('a changed password (WRONGPASS, clients killed) pauses the group until it is restored: all records land once, none in the DLQ', async () => {
    const stream = barStream();
    symbols = stream.symbols;
    const url = new URL(base.REDIS_URL);
    url.username = user;
    url.password = password;
    await streamThroughOutage('redis', {
      config: { REDIS_URL: url.toString(), REDIS_LATEST_TTL_SECONDS: 400_000_000 },
      record: stream.record,
      async snapshot() {
        const out: string[] = [];
        for (const symbol of stream.symbols) {
          for (const m of await admin.zrange(`bars:${symbol}:1h`, '0', '-1')) {
            const b = JSON.parse(m) as { ts: number; close: number };
            out.push(barKey({ symbol, ts: b.ts, close: b.close }));
          }
        }
        return out.sort();
      },
      expected: expectedBars,
      secrets: [password, other],
    }, {
      async refuse() {
        await admin.call('ACL', 'SETUSER', user, 'resetpass', `>${other}`);
        await admin.call('CLIENT', 'KILL', 'USER', user);
      },
      async restore() { await admin.call('ACL', 'SETUSER', user, 'resetpass', `>${password}`); },
      retryError: /^TransientError: Redis unavailable \(WRONGPASS\)$/,
      // The ping waits in ioredis's offline queue across reconnects: refused (WRONGPASS) or out of time, both described.
      dependencyError: /^(Redis unavailable \(WRONGPASS\)|TimeoutError \(ETIMEDOUT\))$/,
    });
  });
});

// ── Neo4j ────────────────────────────────────────────────

describe('neo4j-sink when Neo4j refuses its user', () => {
  const user = randomName('test_sink').replace(/-/g, '_');
  const password = newPassword();
  const other = newPassword();
  let admin: Driver;
  const symbols: string[] = [];
  const system = (q: string, params: Record<string, unknown> = {}) => admin.executeQuery(q, params, { database: 'system' });

  beforeAll(async () => {
    admin = neo4j.driver(base.NEO4J_URL, neo4j.auth.basic(base.NEO4J_USER, base.NEO4J_PASSWORD),
      { disableLosslessIntegers: true, logging: { level: 'error', logger: () => {} } });
    await system('CREATE USER $user SET PASSWORD $password CHANGE NOT REQUIRED', { user, password });
  });
  afterAll(async () => {
    await system('DROP USER $user IF EXISTS', { user }).catch(() => {});
    await admin?.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols }).catch(() => {});
    await admin?.close();
  });

  it('a changed password (Security.Unauthorized, connections killed) pauses the group until it is restored: ' +
    'all records land once, none in the DLQ', async () => {
    await streamThroughOutage('neo4j', {
      config: { NEO4J_USER: user, NEO4J_PASSWORD: password },
      // One symbol per record: the sink keeps each Company's latest price, so every record is one node.
      record(i) { const s = randomSymbol(); symbols.push(s); return bar(s, 0, 100 + i); },
      async snapshot() {
        const { records } = await admin.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols RETURN c.symbol AS symbol, c.last_price AS close',
          { symbols });
        return records.map((r) => `${r.get('symbol')}|${r.get('close')}`).sort();
      },
      expected: (sent) => sent.map((r) => `${r.symbol}|${r.close}`).sort(),
      secrets: [password, other],
    }, {
      async refuse() {
        await system('ALTER USER $user SET PASSWORD $other CHANGE NOT REQUIRED', { user, other });
        // An authenticated connection stays so: close the user's connections, so the next ones must log in again.
        const { records } = await admin.executeQuery(
          'CALL dbms.listConnections() YIELD connectionId, username WHERE username = $user RETURN collect(connectionId) AS ids', { user });
        await admin.executeQuery('CALL dbms.killConnections($ids)', { ids: records[0]?.get('ids') ?? [] });
      },
      async restore() { await system('ALTER USER $user SET PASSWORD $password CHANGE NOT REQUIRED', { user, password }); },
      retryError: /^TransientError: Neo4j unavailable \(Neo\.ClientError\.Security\.(Unauthorized|AuthenticationRateLimit)\)$/,
      dependencyError: /^Neo4j unavailable \(Neo\.ClientError\.Security\.(Unauthorized|AuthenticationRateLimit)\)$/,
    });
  });
});
