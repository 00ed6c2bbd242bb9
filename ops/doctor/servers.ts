// PostgreSQL, Redis and Neo4j: does each answer at its configured address with the configured credentials, and which
// version runs (SHOW server_version, INFO server, CALL dbms.components()). Kafka and the Schema Registry, which have
// more to check, are in ./kafka.ts and ./registry.ts. The clients are the sinks' own (lib/stores), in their
// one-attempt form (checkTimeoutMs), and their errors are classified as the sinks classify them.
import type { Config } from '../../lib/config.ts';
import { describeError, MarketstreamError } from '../../lib/errors.ts';
import { maskSecrets } from '../../lib/logger.ts';
import { classifyNeo4jError, createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { classifyPgError, createPgClient } from '../../lib/stores/postgres.ts';
import { classifyRedisError, createRedis } from '../../lib/stores/redis.ts';
import type { Check, LocalStackServer, ServerName } from './types.ts';
import { closeQuietly, localServerAt, settle, urlAddress, type Settled } from './util.ts';

export interface ServerCheckOptions {
  timeoutMs: number;
  localStack?: readonly LocalStackServer[];
}

/** The code of a driver error (errno, SQLSTATE, Neo4j status, Redis reply word), if it is a short token. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[\w.-]{1,100}$/.test(code)) return code;
  const first = (err as { errors?: unknown[] } | null)?.errors?.[0]; // AggregateError: localhost tried over IPv6 and IPv4
  return first ? errorCode(first) : undefined;
}

export interface ServerTarget {
  id: ServerName;
  name: string;
  /** The variable(s) that say where it is. */
  variable: string;
  /** Where, as shown (password masked). */
  where: string;
  local?: LocalStackServer;
}

/**
 * The failed check of a server: what went wrong (a timeout, or the driver error's short description) and what to do:
 * `special` (credentials, a missing database) when it knows, else start the local stack when the address is the local
 * stack's, else fix the variable.
 */
export function serverFailure(t: ServerTarget, s: Extract<Settled<unknown>, { ok: false }>, timeoutMs: number, ms: number,
  o: { special?: string; what?: string } = {}): Check {
  // The driver's code (ECONNREFUSED, 28P01…), not the classification's own (TRANSIENT).
  const raw = s.error instanceof MarketstreamError && s.error.cause !== undefined ? s.error.cause : s.error;
  const code = s.timedOut ? 'TIMEOUT' : errorCode(raw) ?? errorCode((raw as { cause?: unknown } | null)?.cause);
  const what = s.timedOut ? `no answer within ${timeoutMs} ms` : o.what ?? describeError(s.error);
  let hint = o.special;
  if (!hint && t.local) {
    hint = t.local.running
      ? `the local stack's ${t.local.name} process runs but does not answer${t.local.logFile ? `: see ${t.local.logFile}` : ''} (\`marketstream stack ` +
        `status\`; \`stack down\` then \`stack up\` restarts it)`
      : 'start the servers: `marketstream stack up` (local stack, no Docker) or `docker compose -f docker-compose.kafka.yml up -d`';
  }
  hint ??= `nothing answers as ${t.name} at ${t.where}: start that server, or point ${t.variable} at one that runs (unset it to use the local stack's ` +
    `default, then \`marketstream stack up\`)`;
  return {
    id: `server.${t.id}`, section: 'servers', name: t.name, status: 'fail', summary: `${t.where}: ${what}`, hint,
    data: { address: t.where, error: what, code: code ?? null, localStack: Boolean(t.local) }, ms,
  };
}

function okCheck(t: ServerTarget, version: string, summary: string, data: Record<string, unknown>, ms: number): Check {
  return { id: `server.${t.id}`, section: 'servers', name: t.name, status: 'ok', summary, version, data: { address: t.where, version, ...data }, ms };
}

// ── PostgreSQL ──────────────────────────────────────────────

export async function checkPostgres(config: Config, o: ServerCheckOptions): Promise<Check> {
  const started = Date.now();
  const addr = urlAddress(config.POSTGRES_URL, 5432);
  const t: ServerTarget = { id: 'postgres', name: 'PostgreSQL', variable: 'POSTGRES_URL', where: maskSecrets(config.POSTGRES_URL),
    local: localServerAt(o.localStack, 'postgres', [addr]) };
  const client = createPgClient(config, { timeoutMs: o.timeoutMs });
  const s = await settle((async () => {
    await client.connect();
    const res = await client.query<{ server_version: string }>('SHOW server_version');
    return res.rows[0]?.server_version ?? 'unknown';
  })(), o.timeoutMs);
  await closeQuietly(() => client.end());
  const ms = Date.now() - started;
  if (!s.ok) {
    // pg's own connection timeout is an error without a code: report it as the timeout it is.
    if (!s.timedOut && !errorCode(s.error) && /timeout/i.test((s.error as Error | null)?.message ?? ''))
      return serverFailure(t, { ...s, timedOut: true }, o.timeoutMs, ms);
    const err = s.timedOut ? undefined : classifyPgError(s.error);
    const code = s.timedOut ? undefined : errorCode(s.error);
    const special = code === '28P01' || code === '28000'
      ? 'PostgreSQL refused the user or password of POSTGRES_URL: fix them (the local stack uses marketstream / marketstream)'
      : code === '3D000' ? 'the database of POSTGRES_URL does not exist (`marketstream stack up` creates marketstream on the local stack)' : undefined;
    return serverFailure(t, s.timedOut ? s : { ...s, error: err }, o.timeoutMs, ms, { special });
  }
  const version = s.value.split(' ')[0] ?? s.value;
  return okCheck(t, version, `PostgreSQL ${s.value} at ${t.where}`, { serverVersion: s.value }, ms);
}

// ── Redis ────────────────────────────────────────────────

/** `INFO server` as key → value. */
export function parseRedisInfo(info: string): Record<string, string> {
  return Object.fromEntries(info.split(/\r?\n/).filter((l) => l && !l.startsWith('#') && l.includes(':')).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}

export async function checkRedis(config: Config, o: ServerCheckOptions): Promise<Check> {
  const started = Date.now();
  const addr = urlAddress(config.REDIS_URL, 6379);
  const t: ServerTarget = { id: 'redis', name: 'Redis', variable: 'REDIS_URL', where: maskSecrets(config.REDIS_URL),
    local: localServerAt(o.localStack, 'redis', [addr]) };
  // connect() rejects with the cause ('error' event), not ioredis's bare "Connection is closed." (lib/stores/redis.ts).
  const redis = createRedis(config, { checkTimeoutMs: o.timeoutMs });
  const s = await settle((async () => {
    await redis.connect();
    return parseRedisInfo(await redis.info('server'));
  })(), o.timeoutMs);
  redis.disconnect();
  const ms = Date.now() - started;
  if (!s.ok) {
    const code = s.timedOut ? undefined : (/^[A-Z]+/.exec((s.error as Error)?.message ?? '')?.[0] ?? errorCode(s.error));
    const special = code === 'WRONGPASS' || code === 'NOAUTH'
      ? 'Redis refused the user or password of REDIS_URL (redis://[user]:password@host:port): fix them' : undefined;
    return serverFailure(t, s.timedOut ? s : { ...s, error: classifyRedisError(s.error) }, o.timeoutMs, ms, { special });
  }
  const info = s.value;
  const product = info.server_name === 'valkey' ? 'Valkey' : 'Redis';
  const version = info.valkey_version ?? info.redis_version ?? 'unknown';
  return okCheck(t, version, `${product} ${version} (${info.redis_mode ?? 'standalone'}) at ${t.where}`, { product, mode: info.redis_mode ?? null }, ms);
}

// ── Neo4j ────────────────────────────────────────────────

export async function checkNeo4j(config: Config, o: ServerCheckOptions): Promise<Check> {
  const started = Date.now();
  const addr = urlAddress(config.NEO4J_URL, 7687);
  const t: ServerTarget = { id: 'neo4j', name: 'Neo4j', variable: 'NEO4J_URL', where: maskSecrets(config.NEO4J_URL),
    local: localServerAt(o.localStack, 'neo4j', [addr]) };
  const driver = createNeo4jDriver(config, { checkTimeoutMs: o.timeoutMs });
  const s = await settle((async () => {
    const res = await driver.executeQuery('CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition');
    return res.records.map((r) => ({ name: String(r.get('name')), versions: (r.get('versions') as unknown[]).map(String), edition: String(r.get('edition')) }));
  })(), o.timeoutMs);
  await closeQuietly(() => driver.close());
  const ms = Date.now() - started;
  if (!s.ok) {
    const code = s.timedOut ? undefined : errorCode(s.error);
    const special = code?.startsWith('Neo.ClientError.Security.')
      ? `Neo4j refused NEO4J_USER (${config.NEO4J_USER}) / NEO4J_PASSWORD (${code}): fix them` : undefined;
    return serverFailure(t, s.timedOut ? s : { ...s, error: classifyNeo4jError(s.error) }, o.timeoutMs, ms, { special });
  }
  const kernel = s.value.find((c) => c.name === 'Neo4j Kernel') ?? s.value[0];
  const version = kernel?.versions[0] ?? 'unknown';
  return okCheck(t, version, `Neo4j ${version} ${kernel?.edition ?? ''} at ${t.where}`.replace(/\s+at/, ' at'),
    { edition: kernel?.edition ?? null, components: s.value }, ms);
}
