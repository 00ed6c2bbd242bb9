// Every error marketstream throws, in one module: a root error with a `code` and a `retriable` flag. It imports no
// store driver: each store's client module (lib/stores/*) classifies its driver's errors (pg SQLSTATE, Neo4j status
// codes, Redis reply codes) into these classes with storeUnavailable/storeRejectedData, and registers that
// classification (registerStoreErrors) so describeError can describe a driver error nobody classified yet.
// The consumer runner decides from `retriable` alone: a retriable error pauses and retries the batch (the store or
// service is down, slow or refusing us); a non-retriable one is the record's fault and sends it to the DLQ.
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

// ── Records ───────────────────────────────────────────────

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

// ── Stores and services ───────────────────────────────────────────

/** A store or service that is down, slow or refusing for now: retry, never dead-letter. */
export class TransientError extends MarketstreamError {
  constructor(message: string, cause?: unknown, code = 'TRANSIENT') { super(code, message, { retriable: true, cause }); }
}

/**
 * A store call that passed its deadline: a server-side timeout (PostgreSQL statement_timeout or lock_timeout, Neo4j's
 * transaction timeout) or a client-side one (pg's query_timeout, ioredis's commandTimeout, the deadline around each
 * Neo4j call, a connect timeout). The store is slow, locked or unreachable for now: retriable, never dead-lettered.
 */
export class StoreTimeoutError extends TransientError {
  readonly store: string;
  constructor(store: string, message: string, cause?: unknown) {
    super(message, cause, 'STORE_TIMEOUT');
    this.store = store;
  }
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

/**
 * Yahoo refused our session (401 "Invalid Crumb", or the cookie/crumb handshake failed) again after the crumb and
 * cookies were cleared and fetched anew. Yahoo is refusing us for now (transient), not the request: it counts against
 * the circuit, unlike a YahooRequestError.
 */
export class YahooCrumbError extends MarketstreamError {
  constructor(cause: unknown) {
    super('YAHOO_CRUMB', `Yahoo still refuses us after the crumb and cookies were renewed: ${errorMessage(cause)}`, { retriable: true, cause });
  }
}

/**
 * A price provider's HTTP API (Alpha Vantage, Twelve Data) failed a request. `countsAgainstCircuit`: the answer says
 * the provider is unusable for now (down, 5xx, unreachable, refusing our key or plan), so repeated ones open its
 * circuit and the source chain moves on; a bad request (an unknown symbol) says nothing about the provider's health.
 * The message names the call (function and symbol), never the URL, which carries the API key.
 */
export class ProviderError extends MarketstreamError {
  readonly provider: string;
  /** The HTTP status, or the provider's own error code; null when no answer came (connection refused, timeout). */
  readonly status: number | null;
  readonly countsAgainstCircuit: boolean;
  constructor(provider: string, message: string,
    o: { code: string; retriable: boolean; countsAgainstCircuit: boolean; status?: number | null; cause?: unknown }) {
    super(o.code, message, { retriable: o.retriable, cause: o.cause });
    this.provider = provider;
    this.status = o.status ?? null;
    this.countsAgainstCircuit = o.countsAgainstCircuit;
  }
}

/**
 * A call to a price provider not made, or refused, for its rate limit: our own count of its free tier's calls said no
 * (`byProvider` false), or the provider answered that we are over it (Alpha Vantage's "Note"/"Information", Twelve
 * Data's code 429). Not retried at once and not held against the circuit (the provider is not unwell): the source is
 * unavailable until `until`, and the chain asks the next one.
 */
export class RateLimitedError extends MarketstreamError {
  readonly provider: string;
  readonly until: number;
  readonly byProvider: boolean;
  constructor(provider: string, message: string, o: { until: number; byProvider: boolean }) {
    super('RATE_LIMITED', message, { retriable: true });
    this.provider = provider;
    this.until = o.until;
    this.byProvider = o.byProvider;
  }
}

// ── The runner and operations ─────────────────────────────────────────

/** A batch the runner gave up on because this member is stopping or lost the partition; left uncommitted. */
export class StaleBatchError extends MarketstreamError {
  constructor(message = 'batch abandoned: member stopping or partition reassigned') { super('STALE_BATCH', message, { retriable: false }); }
}

/**
 * A consumer group member gives up for good: the same error that nobody classified (a bug in a sink, a driver error
 * we do not know) came back SINK_UNKNOWN_ERROR_ATTEMPTS times in a row, or kafkajs crashed without restarting. The
 * member stops instead of spinning; the process that runs it exits non-zero, so its supervisor sees it.
 */
export class MemberFailedError extends MarketstreamError {
  constructor(message: string, cause?: unknown) { super('MEMBER_FAILED', message, { retriable: false, cause }); }
}

/** Offsets cannot be moved while members are in the group: they would overwrite them with their next commit. */
export class GroupActiveError extends MarketstreamError {
  readonly groupId: string;
  readonly members: number;
  constructor(groupId: string, state: string, members: number) {
    super('GROUP_ACTIVE',
      `consumer group ${groupId} has ${members} live member(s) (state ${state}); stop them first (e.g. stop \`marketstream consume\`), then run this again`,
      { retriable: false });
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
    super('GROUP_HOLD_LOST',
      `the rebuild lost its hold on consumer group ${groupId} (${reason}); another member may have committed records the clear erased: ` +
      `stop the group's members and run the rebuild again`, { retriable: false });
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

// ── Reading errors ─────────────────────────────────────────────

/** Socket errors: the server or the way to it is down. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
]);

/** kafkajs's answers that are the record's fault: the same record would meet them again. */
const KAFKA_RECORD_ERRORS: ReadonlySet<string> = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/**
 * How to treat a failure: `transient` (wait and try again: ours marked so, a store error classified so, one kafkajs
 * retries itself, a socket error), `permanent` (trying again cannot help: ours marked so, a store refusing the data, a
 * record Kafka refuses), or `unknown` (nobody classified it: a TypeError in a sink, a driver error we do not know).
 * Unknown errors are retried, but the runner gives up after SINK_UNKNOWN_ERROR_ATTEMPTS of the same one in a row.
 */
export function retryClass(err: unknown): 'transient' | 'permanent' | 'unknown' {
  if (err instanceof MarketstreamError) return err.retriable ? 'transient' : 'permanent';
  const classified = readStoreError(err);
  if (classified) return classified.retriable ? 'transient' : 'permanent';
  const e = err as { name?: unknown; type?: unknown; retriable?: unknown; code?: unknown } | null;
  if (typeof e?.name === 'string' && e.name.startsWith('KafkaJS')) {
    if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.retriable === true) return 'transient';
    if (typeof e.type === 'string' && KAFKA_RECORD_ERRORS.has(e.type)) return 'permanent';
    return 'unknown';
  }
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return 'transient';
  return 'unknown';
}

/** Worth trying again (transient, or unknown: retried a bounded number of times by the runner); never dead-letter on these. */
export function isRetriable(err: unknown): boolean {
  return retryClass(err) !== 'permanent';
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

/** The `code` of a driver's error (SQLSTATE, Neo4j status, errno) when it is a short token, never free text. */
export function driverCode(err: unknown): string | undefined {
  return safeCode(codeOf(err));
}

// ── Store errors (classified by each store's client, lib/stores/*) ─────────────────────────────

/** The short, stable description of each classified error (see describeError): a fixed phrase and the driver's code. */
const summaries = new WeakMap<object, string>();

function summarized<E extends MarketstreamError>(err: E, summary: string): E {
  summaries.set(err, summary);
  return err;
}

/** `store` is down, slow or refusing us (retriable): "<store> unavailable (<code>)"; the driver's message only in the message. */
export function storeUnavailable(store: string, code: string | undefined, cause: unknown): TransientError {
  const phrase = `${store} unavailable${code ? ` (${code})` : ''}`;
  return summarized(new TransientError(`${phrase}: ${errorMessage(cause)}`, cause), phrase);
}

/** A call to `store` passed its deadline (retriable): "<store> timed out (<code>)"; what timed out only in the message. */
export function storeTimedOut(store: string, code: string | undefined, what: string, cause: unknown): StoreTimeoutError {
  const phrase = `${store} timed out${code ? ` (${code})` : ''}`;
  return summarized(new StoreTimeoutError(store, `${phrase}: ${what}: ${errorMessage(cause)}`, cause), phrase);
}

/** `store` rejected the record's data (not retriable: the record goes to the DLQ): "<store> rejected the data (<code>)". */
export function storeRejectedData(store: string, code: string | undefined, cause: unknown): ValidationError {
  const phrase = `${store} rejected the data${code ? ` (${code})` : ''}`;
  return summarized(new ValidationError(`${phrase}: ${errorMessage(cause)}`, cause), phrase);
}

/** A store client's reading of its driver's errors: the classified error for one of them, undefined for any other. */
export type StoreErrorReader = (err: unknown) => MarketstreamError | undefined;
const storeErrorReaders = new Set<StoreErrorReader>();

/**
 * Called once by each store's client module (lib/stores/*), which is the only module that loads its driver: any
 * driver error in the process therefore has its reader here, and describeError describes it as classified.
 */
export function registerStoreErrors(read: StoreErrorReader): void {
  storeErrorReaders.add(read);
}

function readStoreError(err: unknown): MarketstreamError | undefined {
  for (const read of storeErrorReaders) {
    const classified = read(err);
    if (classified) return classified;
  }
  return undefined;
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
  const classified = readStoreError(err);
  if (classified) return describeError(classified);
  if (err instanceof Error && err.name.startsWith('KafkaJS')) return maskSecrets(err.message);
  const code = safeCode(codeOf(err));
  const name = err instanceof Error ? err.name : typeof err;
  return code ? `${name} (${code})` : name;
}
