// Neo4j: driver construction from config, the constraints the graph relies on (created at start, idempotent), and the
// classification of the driver's errors.
import neo4j, { type Driver } from 'neo4j-driver';
import type { Config } from '../config.ts';
import { driverCode, MarketstreamError, registerStoreErrors, storeRejectedData, storeUnavailable } from '../errors.ts';

export type { Driver };

export interface Neo4jOptions {
  /**
   * One connection bounded in time, for checks and probes (doctor, stack): connecting and acquiring give up after this
   * many ms, no transaction retries, the driver's own logging off. Without it: a pool, and retries for 10 s.
   */
  checkTimeoutMs?: number;
}

export function createNeo4jDriver(config: Pick<Config, 'NEO4J_URL' | 'NEO4J_USER' | 'NEO4J_PASSWORD'>, opts: Neo4jOptions = {}): Driver {
  const t = opts.checkTimeoutMs;
  return neo4j.driver(config.NEO4J_URL, neo4j.auth.basic(config.NEO4J_USER, config.NEO4J_PASSWORD), {
    disableLosslessIntegers: true,
    ...(t === undefined
      ? { connectionTimeout: 5000, maxTransactionRetryTime: 10_000 }
      : {
        connectionTimeout: t, connectionAcquisitionTimeout: t, maxConnectionPoolSize: 1, maxTransactionRetryTime: 0,
        logging: { level: 'error', logger: () => undefined },
      }),
  });
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
  const dataAtFault = /^Neo\.ClientError\.(Statement|Schema|Request)\./.test(code ?? '') && code !== 'Neo.ClientError.Statement.AccessMode'
    && !neo4j.isRetryableError(err as Error);
  return dataAtFault ? storeRejectedData('Neo4j', code, err) : storeUnavailable('Neo4j', code, err);
}

registerStoreErrors((err) => (err instanceof neo4j.Neo4jError ? classifyNeo4jError(err) : undefined));
