// Neo4j: driver construction from config, and the constraints the graph relies on (created at start, idempotent).
import neo4j, { type Driver } from 'neo4j-driver';
import type { Config } from '../config.ts';

export type { Driver };

export function createNeo4jDriver(config: Config): Driver {
  return neo4j.driver(config.NEO4J_URL, neo4j.auth.basic(config.NEO4J_USER, config.NEO4J_PASSWORD), {
    connectionTimeout: 5000,
    maxTransactionRetryTime: 10_000,
    disableLosslessIntegers: true,
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

