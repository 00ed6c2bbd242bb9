// Neo4j: driver construction from config, the constraints the graph relies on (created at start, idempotent), and the
// classification of the driver's errors.
import neo4j, { type Driver, type QueryConfig, type Session, type SessionConfig } from 'neo4j-driver';
import { configSpec, type Config } from '../config.ts';
import { driverCode, MarketstreamError, registerStoreErrors, storeRejectedData, storeTimedOut, storeUnavailable } from '../errors.ts';

export type { Driver };

export interface Neo4jOptions {
  /**
   * One connection bounded in time, for checks and probes (doctor, stack): connecting and acquiring give up after this
   * many ms, no transaction retries, the driver's own logging off. Without it: a pool, and the deadlines of `config`.
   */
  checkTimeoutMs?: number;
}

type DeadlineConfig = Pick<Config, 'NEO4J_TRANSACTION_TIMEOUT_MS' | 'NEO4J_QUERY_TIMEOUT_MS' | 'NEO4J_CONNECT_TIMEOUT_MS' | 'NEO4J_MAX_RETRY_TIME_MS'>;
const deadlineDefaults = (): DeadlineConfig => ({
  NEO4J_TRANSACTION_TIMEOUT_MS: Number(configSpec.NEO4J_TRANSACTION_TIMEOUT_MS.default),
  NEO4J_QUERY_TIMEOUT_MS: Number(configSpec.NEO4J_QUERY_TIMEOUT_MS.default),
  NEO4J_CONNECT_TIMEOUT_MS: Number(configSpec.NEO4J_CONNECT_TIMEOUT_MS.default),
  NEO4J_MAX_RETRY_TIME_MS: Number(configSpec.NEO4J_MAX_RETRY_TIME_MS.default),
});

/**
 * A driver whose every query (executeQuery) and managed transaction (session.executeRead/executeWrite) has a deadline:
 * the server terminates a transaction past NEO4J_TRANSACTION_TIMEOUT_MS, and the call itself, the driver's retries
 * included, fails after NEO4J_QUERY_TIMEOUT_MS even when its connection stopped answering (the driver would wait for
 * ever on a connection dropped without a word). Both are StoreTimeoutErrors: retriable.
 */
export function createNeo4jDriver(config: Pick<Config, 'NEO4J_URL' | 'NEO4J_USER' | 'NEO4J_PASSWORD'> & Partial<DeadlineConfig>,
  opts: Neo4jOptions = {}): Driver {
  const t = opts.checkTimeoutMs;
  const c = { ...deadlineDefaults(), ...definedOnly(config) };
  const driver = neo4j.driver(config.NEO4J_URL, neo4j.auth.basic(config.NEO4J_USER, config.NEO4J_PASSWORD), {
    disableLosslessIntegers: true,
    ...(t === undefined
      ? { connectionTimeout: c.NEO4J_CONNECT_TIMEOUT_MS, maxTransactionRetryTime: c.NEO4J_MAX_RETRY_TIME_MS }
      : {
        connectionTimeout: t, connectionAcquisitionTimeout: t, maxConnectionPoolSize: 1, maxTransactionRetryTime: 0,
        logging: { level: 'error', logger: () => undefined },
      }),
  });
  return t === undefined ? withDeadlines(driver, c) : driver;
}

type TransactionConfig = NonNullable<Parameters<Session['executeWrite']>[1]>;
const definedOnly = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function withDeadlines(driver: Driver, c: DeadlineConfig): Driver {
  const txTimeout = c.NEO4J_TRANSACTION_TIMEOUT_MS;
  const tx = (config?: TransactionConfig): TransactionConfig | undefined =>
    (txTimeout && config?.timeout === undefined ? { ...config, timeout: txTimeout } : config);
  const within = <T>(call: Promise<T>, onLate?: () => void): Promise<T> => deadline(call, c.NEO4J_QUERY_TIMEOUT_MS, onLate);
  const executeQuery = driver.executeQuery.bind(driver);
  driver.executeQuery = ((query: string, parameters?: Record<string, unknown>, config: QueryConfig = {}) =>
    within(executeQuery(query, parameters, { ...config, transactionConfig: tx(config.transactionConfig) }))) as Driver['executeQuery'];
  const session = driver.session.bind(driver);
  driver.session = ((config?: SessionConfig) => {
    const s = session(config);
    const { executeRead, executeWrite, close } = s;
    // Once a call of this session passed its deadline, its connection may never answer: close() does not wait for it.
    let late = false;
    const onLate = () => { late = true; };
    s.executeRead = ((work, config) => within(executeRead.call(s, work, tx(config)), onLate)) as Session['executeRead'];
    s.executeWrite = ((work, config) => within(executeWrite.call(s, work, tx(config)), onLate)) as Session['executeWrite'];
    s.close = () => {
      const closing = close.call(s);
      if (!late) return closing;
      closing.catch(() => undefined);
      return Promise.resolve();
    };
    return s;
  }) as Driver['session'];
  return driver;
}

/** `call`, or a StoreTimeoutError once `ms` passed without it settling (0 = no deadline). */
function deadline<T>(call: Promise<T>, ms: number, onLate?: () => void): Promise<T> {
  if (!ms) return call;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate?.();
      call.catch(() => undefined); // settles (or not) on its own; nobody waits for it any more
      reject(storeTimedOut('Neo4j', undefined, 'no answer within the query timeout (NEO4J_QUERY_TIMEOUT_MS)', new Error(`no answer after ${ms} ms`)));
    }, ms);
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/** Uniqueness constraints for every whitelisted node label's key. */
export const constraints = [
  'CREATE CONSTRAINT company_symbol IF NOT EXISTS FOR (n:Company) REQUIRE n.symbol IS UNIQUE',
  'CREATE CONSTRAINT stock_symbol IF NOT EXISTS FOR (n:Stock) REQUIRE n.symbol IS UNIQUE',
  'CREATE CONSTRAINT sector_name IF NOT EXISTS FOR (n:Sector) REQUIRE n.name IS UNIQUE',
  'CREATE CONSTRAINT industry_name IF NOT EXISTS FOR (n:Industry) REQUIRE n.name IS UNIQUE',
  'CREATE CONSTRAINT market_event_id IF NOT EXISTS FOR (n:MarketEvent) REQUIRE n.id IS UNIQUE',
  'CREATE CONSTRAINT graph_tombstone_key IF NOT EXISTS FOR (n:GraphTombstone) REQUIRE n.key IS UNIQUE',
] as const;

export async function ensureConstraints(driver: Driver, database?: string): Promise<void> {
  for (const statement of constraints) await driver.executeQuery(statement, {}, { database });
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
  const code = driverCode(err);
  const timeout = neo4jTimeout(code);
  if (timeout) return storeTimedOut('Neo4j', code, timeout, err);
  const dataAtFault = /^Neo\.ClientError\.(Statement|Schema|Request)\./.test(code ?? '') && code !== 'Neo.ClientError.Statement.AccessMode'
    && !neo4j.isRetryableError(err as Error);
  return dataAtFault ? storeRejectedData('Neo4j', code, err) : storeUnavailable('Neo4j', code, err);
}

/**
 * What deadline a status code is, or undefined: the server terminated the transaction at its timeout while it ran
 * (TransactionTimedOut, TransactionTimedOutClientConfiguration) or while it waited for a lock another transaction
 * holds (LockClientStopped, which an operator's termination also gives: retriable either way).
 */
function neo4jTimeout(code: string | undefined): string | undefined {
  if (/^Neo\.ClientError\.Transaction\.TransactionTimedOut/.test(code ?? '')) return 'transaction terminated at its timeout (NEO4J_TRANSACTION_TIMEOUT_MS)';
  if (/^Neo\.(Client|Transient)Error\.Transaction\.LockClientStopped$/.test(code ?? '')) {
    return 'transaction terminated while waiting for a lock (its timeout, NEO4J_TRANSACTION_TIMEOUT_MS, or terminated)';
  }
  return undefined;
}

registerStoreErrors((err) => (err instanceof neo4j.Neo4jError ? classifyNeo4jError(err) : undefined));
