// Every error marketstream throws, in one module: a root error with a `code` and a `retriable` flag, and the
// classification of the drivers' own errors (pg SQLSTATE, Neo4j status codes, Redis reply codes) into it.
// The consumer runner decides from `retriable` alone: a retriable error pauses and retries the batch (the store or
// service is down, slow or refusing us); a non-retriable one is the record's fault and sends it to the DLQ.
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { maskSecrets } from './logger.ts';

export class MarketstreamError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable;
  }
}

// ── Records ─────────────────────────────────────────────────────────────────────────────────────────────────

/** Bytes that cannot be decoded: bad magic byte, unknown schema id, corrupt Avro, a tombstone where none is meaningful. */
export class DecodeError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('DECODE', message, { retriable: false, cause }); }
}

/** A decoded record that breaks a rule (OHLC relationships, whitelist, …), or that the store rejects as data. */
export class ValidationError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('VALIDATION', message, { retriable: false, cause }); }
}

/** The registry refused a topic's schema: incompatible with the subject's earlier versions, or not valid. */
export class SchemaRejectedError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('SCHEMA_REJECTED', message, { retriable: false, cause }); }
}

// ── Stores and services ─────────────────────────────────────────────────────────────────────────────────────

/** A store or service that is down, slow or refusing for now: retry, never dead-letter. */
export class TransientError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('TRANSIENT', message, { retriable: true, cause }); }
}

/** The circuit is open: the upstream is failing, the call was not made. Transient: try again later. */
export class CircuitOpenError extends MarketstreamError {
  readonly upstream: string;
  constructor(upstream: string, cause?: unknown) {
    super('CIRCUIT_OPEN', `circuit for ${upstream} is open: not calling it until the reset timeout passes`, { retriable: true, cause });
    this.upstream = upstream;
  }
}

/** A Schema Registry REST call answered non-2xx. 429 and 5xx are worth retrying. */
export class RegistryHttpError extends MarketstreamError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('REGISTRY_HTTP', message, { retriable: status === 429 || status >= 500 });
    this.status = status;
  }
}

/** Yahoo refused the request itself (4xx other than 429: unknown symbol, bad parameters): retrying will not help. */
export class YahooRequestError extends MarketstreamError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('YAHOO_REQUEST', `Yahoo answered ${status}: ${message}`, { retriable: false });
    this.status = status;
  }
}

// ── The runner and operations ───────────────────────────────────────────────────────────────────────────────

/** A batch the runner gave up on because this member is stopping or lost the partition; left uncommitted. */
export class StaleBatchError extends MarketstreamError {
  constructor(message = 'batch abandoned: member stopping or partition reassigned') { super('STALE_BATCH', message, { retriable: false }); }
}

/** Offsets cannot be moved while members are in the group: they would overwrite them with their next commit. */
export class GroupActiveError extends MarketstreamError {
  readonly groupId: string;
  readonly members: number;
  constructor(groupId: string, state: string, members: number) {
    super('GROUP_ACTIVE', `consumer group ${groupId} has ${members} live member(s) (state ${state}); stop them first (e.g. stop \`marketstream consume\`), then run this again`, { retriable: false });
    this.groupId = groupId;
    this.members = members;
  }
}

/**
 * An offsets file (`replay --from-file`, kafka-consumer-groups' CSV) that cannot be applied: every bad line with its
 * number, its text and why (syntax, unknown topic or partition, offset outside the log). Nothing was changed.
 */
export class OffsetsFileError extends MarketstreamError {
  readonly file: string;
  readonly lines: ReadonlyArray<{ line: number; text: string; reason: string }>;
  constructor(file: string, lines: OffsetsFileError['lines'], summary?: string) {
    const shown = lines.slice(0, 20).map((l) => `\n  line ${l.line} ${JSON.stringify(l.text)}: ${l.reason}`).join('');
    const more = lines.length > 20 ? `\n  … and ${lines.length - 20} more bad line(s)` : '';
    super('OFFSETS_FILE', `${file}: ${summary ?? `${lines.length} bad line(s)`}, nothing was changed${shown}${more}`, { retriable: false });
    this.file = file;
    this.lines = lines;
  }
}

export class RebuildUnsupportedError extends MarketstreamError {
  constructor(sink: string) { super('REBUILD_UNSUPPORTED', `${sink} cannot be reset, so it cannot be rebuilt`, { retriable: false }); }
}

/**
 * A rebuild would lose data: retention (or a deleteRecords) removed records from the start of the log that made data
 * the store still holds, and a replay cannot bring it back. Nothing was changed. `losses` says what, how much, when.
 */
export class RetentionLossError extends MarketstreamError {
  readonly losses: ReadonlyArray<{ what: string; count: number; from?: number; to?: number; topic: string; detail?: string }>;
  constructor(message: string, losses: RetentionLossError['losses']) {
    super('RETENTION_LOSS', message, { retriable: false });
    this.losses = losses;
  }
}

/** The operator did not confirm a rebuild (answered no, or no terminal to ask on and no --yes). Nothing was changed. */
export class RebuildDeclinedError extends MarketstreamError {
  constructor(message: string) { super('REBUILD_DECLINED', message, { retriable: false }); }
}

/**
 * The rebuild's own member stopped being the group's only partition owner while it cleared the store (evicted, crashed,
 * or not the leader): another member may have written and committed what the clear then erased. Run the rebuild again.
 */
export class GroupHoldLostError extends MarketstreamError {
  readonly groupId: string;
  constructor(groupId: string, reason: string) {
    super('GROUP_HOLD_LOST', `the rebuild lost its hold on consumer group ${groupId} (${reason}); another member may have committed records the clear erased: stop the group's members and run the rebuild again`, { retriable: false });
    this.groupId = groupId;
  }
}

/** Invalid environment; the message names every bad variable. */
export class ConfigError extends MarketstreamError {
  constructor(message: string) { super('CONFIG', message, { retriable: false }); }
}

/** The local stack could not be brought up or down. */
export class StackError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('STACK', message, { retriable: false, cause }); }
}

/** A command the stack ran exited non-zero; the message carries the tail of its output. */
export class CommandError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('COMMAND', message, { retriable: false, cause }); }
}

// ── Reading errors ──────────────────────────────────────────────────────────────────────────────────────────

/** Errors that are not ours (driver errors: ECONNREFUSED, timeouts) count as transient: never dead-letter on them. */
export function isRetriable(err: unknown): boolean {
  return err instanceof MarketstreamError ? err.retriable : true;
}

export function errorClass(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** A code shown to operators must be a short token (a SQLSTATE, a Neo4j status, a reply code, an errno), never free text. */
const safeCode = (code: string | undefined): string | undefined => (code && /^[\w.-]{1,100}$/.test(code) ? code : undefined);

/** The short, stable description of each classified error (see describeError): a fixed phrase and the driver's code. */
const summaries = new WeakMap<object, string>();

function summarized<E extends MarketstreamError>(err: E, summary: string): E {
  summaries.set(err, summary);
  return err;
}

/**
 * PostgreSQL, by SQLSTATE: classes 22 (data exception) and 23 (integrity violation) are the record's fault. Everything
 * else is the store: connection failures (no code, or an errno), 28 (invalid password 28P01, invalid authorization
 * 28000), 3D000 (database missing), 42501 (permission denied), 57P01 (admin shutdown), 53300 (too many connections),
 * 25006 (read-only transaction), 40 (serialization, deadlock), 55P03 (lock not available): the group pauses and retries.
 */
export function classifyPgError(err: unknown): MarketstreamError {
  if (err instanceof MarketstreamError) return err;
  const code = safeCode(codeOf(err));
  const tag = code ? ` (${code})` : '';
  if (code && /^2[23]/.test(code)) return summarized(new ValidationError(`PostgreSQL rejected the data${tag}: ${errorMessage(err)}`, err), `PostgreSQL rejected the data${tag}`);
  return summarized(new TransientError(`PostgreSQL unavailable${tag}: ${errorMessage(err)}`, err), `PostgreSQL unavailable${tag}`);
}

/**
 * Neo4j, by status code: Neo.ClientError.Statement.*, .Schema.* (a constraint the data breaks) and .Request.* are
 * the record's fault, except Statement.AccessMode (a write sent to a member that only reads: the cluster's state, not
 * the record's). Security (Unauthorized, AuthenticationRateLimit, CredentialsExpired, Forbidden, …),
 * Database.DatabaseNotFound and .DatabaseUnavailable, Neo.TransientError.*, Neo.DatabaseError.* and the driver's own
 * codes (ServiceUnavailable, SessionExpired) are the store: retry.
 */
export function classifyNeo4jError(err: unknown): MarketstreamError {
  if (err instanceof MarketstreamError) return err;
  const code = safeCode(codeOf(err));
  const tag = code ? ` (${code})` : '';
  const dataAtFault = /^Neo\.ClientError\.(Statement|Schema|Request)\./.test(code ?? '') && code !== 'Neo.ClientError.Statement.AccessMode'
    && !neo4j.isRetryableError(err as Error);
  if (dataAtFault) return summarized(new ValidationError(`Neo4j rejected the data${tag}: ${errorMessage(err)}`, err), `Neo4j rejected the data${tag}`);
  return summarized(new TransientError(`Neo4j unavailable${tag}: ${errorMessage(err)}`, err), `Neo4j unavailable${tag}`);
}

/** The code of a Redis reply error (its first word: NOAUTH, WRONGPASS, READONLY, LOADING, OOM, MISCONF, BUSY, …). */
function redisReplyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  const word = err.message.split(' ', 1)[0];
  return word && /^[A-Z][A-Z_-]*$/.test(word) ? word : 'ERR';
}

/**
 * Redis: every failure is the store's. Connection errors carry no reply (an errno, or ioredis's own "Connection is
 * closed." / MaxRetriesPerRequestError); a reply error's code is its first word (NOAUTH, WRONGPASS, READONLY,
 * LOADING, OOM, MISCONF, BUSY, NOPERM, …), kept in the message for the logs. A failed AUTH while connecting fails the
 * queued commands with that reply error and ioredis reconnects. The sink's script accepts any validated record, so a
 * reply error never means bad data.
 */
export function classifyRedisError(err: unknown): MarketstreamError {
  if (err instanceof MarketstreamError) return err;
  const code = redisReplyCode(err) ?? (err instanceof Error && err.name === 'MaxRetriesPerRequestError' ? err.name : safeCode(codeOf(err)));
  const tag = code ? ` (${code})` : '';
  return summarized(new TransientError(`Redis unavailable${tag}: ${errorMessage(err)}`, err), `Redis unavailable${tag}`);
}

/**
 * A short, stable description of an error for /health, /ready and other operator-facing status, never the driver's
 * own message (which can echo hosts, user names, connection strings): a classified store error is its fixed phrase
 * and code ("PostgreSQL unavailable (28P01)", "Redis unavailable (WRONGPASS)", "Neo4j unavailable
 * (Neo.ClientError.Security.Unauthorized)"), also when the driver's error was not classified yet; one of ours without
 * a cause is its own message (our text), secrets masked; one wrapping another is its class and code and the
 * description of what it wraps; Kafka's errors are their (masked) message; anything else is its class and code.
 * No stack traces.
 */
export function describeError(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const summary = summaries.get(err);
    if (summary) return summary;
  }
  if (err instanceof MarketstreamError) {
    if (err instanceof RegistryHttpError) return `Schema Registry answered ${err.status}`; // its message quotes the response body
    if (err.cause === undefined || err.cause === null || err instanceof CircuitOpenError) return maskSecrets(err.message);
    return `${err.name} (${err.code}): ${describeError(err.cause)}`;
  }
  if (err instanceof neo4j.Neo4jError) return describeError(classifyNeo4jError(err));
  if (err instanceof pg.DatabaseError) return describeError(classifyPgError(err));
  if (redisReplyCode(err) || (err instanceof Error && err.name === 'MaxRetriesPerRequestError')) return describeError(classifyRedisError(err));
  if (err instanceof Error && err.name.startsWith('KafkaJS')) return maskSecrets(err.message);
  const code = safeCode(codeOf(err));
  const name = err instanceof Error ? err.name : typeof err;
  return code ? `${name} (${code})` : name;
}
