// PostgreSQL: pool construction from config, migrations applied at start, and the classification of pg's errors.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Config } from '../config.ts';
import { driverCode, MarketstreamError, registerStoreErrors, storeRejectedData, storeTimedOut, storeUnavailable } from '../errors.ts';

export type Pool = pg.Pool;
const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

/**
 * A pool whose every call has a deadline: the server cancels a statement past POSTGRES_STATEMENT_TIMEOUT_MS or a lock
 * wait past POSTGRES_LOCK_TIMEOUT_MS; the client ends a query or COPY whose connection stopped answering after
 * POSTGRES_QUERY_TIMEOUT_MS (pg's query_timeout; that connection is then discarded); connecting gives up after
 * POSTGRES_CONNECT_TIMEOUT_MS; TCP keep-alive (POSTGRES_KEEPALIVE_MS) lets the OS notice a dead peer. Each surfaces as a
 * StoreTimeoutError (classifyPgError): retriable.
 */
export function createPgPool(config: Config, opts: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.POSTGRES_URL,
    max: opts.max ?? 8,
    application_name: opts.applicationName ?? 'marketstream',
    connectionTimeoutMillis: config.POSTGRES_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    ...(config.POSTGRES_STATEMENT_TIMEOUT_MS ? { statement_timeout: config.POSTGRES_STATEMENT_TIMEOUT_MS } : {}),
    ...(config.POSTGRES_LOCK_TIMEOUT_MS ? { lock_timeout: config.POSTGRES_LOCK_TIMEOUT_MS } : {}),
    ...(config.POSTGRES_QUERY_TIMEOUT_MS ? { query_timeout: config.POSTGRES_QUERY_TIMEOUT_MS } : {}),
    ...(config.POSTGRES_KEEPALIVE_MS ? { keepAlive: true, keepAliveInitialDelayMillis: config.POSTGRES_KEEPALIVE_MS } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/**
 * One connection (not a pool) bounded in time, for checks and probes (doctor, stack): connecting, each query and each
 * statement give up after `timeoutMs`. Its idle errors are dropped like the pool's; call end() when done.
 */
export function createPgClient(config: Pick<Config, 'POSTGRES_URL'>, opts: { timeoutMs: number }): pg.Client {
  const client = new pg.Client({
    connectionString: config.POSTGRES_URL,
    connectionTimeoutMillis: opts.timeoutMs,
    query_timeout: opts.timeoutMs,
    statement_timeout: opts.timeoutMs,
  });
  client.on('error', () => {});
  return client;
}

/** A migration's own deadline, client side: building an index over a large table may take minutes. */
const MIGRATION_TIMEOUT_MS = 30 * 60_000;

/**
 * Applies every migrations/*.sql not yet applied, in name order, under an advisory lock (safe with N instances).
 * Migrations are not held to the pool's statement and lock timeouts (meant for a batch write): an instance waits for
 * another one migrating, and a migration may take long; both are bounded by MIGRATION_TIMEOUT_MS on the client.
 */
export async function migrate(pool: pg.Pool): Promise<string[]> {
  const files = (await readdir(migrationsDir)).filter((f) => f.endsWith('.sql')).sort();
  const client = await pool.connect();
  const applied: string[] = [];
  const long = (text: string) => ({ text, query_timeout: MIGRATION_TIMEOUT_MS });
  try {
    await client.query('SET statement_timeout = 0; SET lock_timeout = 0');
    await client.query(long('SELECT pg_advisory_lock(4242001)'));
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
    for (const file of files.filter((f) => !done.has(f))) {
      const sql = await readFile(migrationsDir + file, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(long(sql));
        await client.query('INSERT INTO schema_migrations(name) VALUES ($1)', [file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(4242001)').catch(() => {});
    // Back to the pool's own timeouts (those it connected with); a connection that cannot is not reused.
    const reset = await client.query('RESET statement_timeout; RESET lock_timeout').then(() => true, () => false);
    client.release(!reset);
  }
  return applied;
}


/**
 * PostgreSQL, by SQLSTATE: classes 22 (data exception) and 23 (integrity violation) are the record's fault. Everything
 * else is the store: connection failures (no code, or an errno), 28 (invalid password 28P01, invalid authorization
 * 28000), 3D000 (database missing), 42501 (permission denied), 57P01 (admin shutdown), 53300 (too many connections),
 * 25006 (read-only transaction), 40 (serialization, deadlock), 55P03 (lock not available): the group pauses and retries.
 */
export function classifyPgError(err: unknown): MarketstreamError {
  if (err instanceof MarketstreamError) return err;
  const code = driverCode(err);
  const timeout = pgTimeout(err);
  if (timeout) return storeTimedOut('PostgreSQL', code, timeout, err);
  return code && /^2[23]/.test(code) ? storeRejectedData('PostgreSQL', code, err) : storeUnavailable('PostgreSQL', code, err);
}

/** pg's own errors for a deadline passed, by their fixed messages (they carry no code). */
const CLIENT_TIMEOUTS: ReadonlyMap<string, string> = new Map([
  ['Query read timeout', 'no answer within the query timeout (POSTGRES_QUERY_TIMEOUT_MS)'],
  ['timeout expired', 'no connection within the connect timeout (POSTGRES_CONNECT_TIMEOUT_MS)'],
  ['timeout exceeded when trying to connect', 'no connection within the connect timeout (POSTGRES_CONNECT_TIMEOUT_MS)'],
  ['Connection terminated due to connection timeout', 'no connection within the connect timeout (POSTGRES_CONNECT_TIMEOUT_MS)'],
]);

/**
 * What deadline `err` is, or undefined: SQLSTATE 57014 (query_canceled: statement_timeout, or a cancel), 55P03
 * (lock_not_available: lock_timeout), or one of pg's client-side timeouts.
 */
function pgTimeout(err: unknown): string | undefined {
  if (err instanceof pg.DatabaseError) {
    if (err.code === '57014') return 'statement cancelled (statement timeout, POSTGRES_STATEMENT_TIMEOUT_MS)';
    if (err.code === '55P03') return 'lock not granted (lock timeout, POSTGRES_LOCK_TIMEOUT_MS)';
    return undefined;
  }
  return err instanceof Error ? CLIENT_TIMEOUTS.get(err.message) : undefined;
}

registerStoreErrors((err) => (err instanceof pg.DatabaseError || pgTimeout(err) ? classifyPgError(err) : undefined));
