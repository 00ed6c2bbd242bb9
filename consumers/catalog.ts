// The consumer groups marketstream knows: name → description and factory. The CLI lists and starts from here; ops read
// a sink's topics, reset and counts through it. Each factory builds its sink without I/O, its options taken from the
// configuration (lib/config.ts: validated at start, documented in .env.example and the README).
import type { Config } from '../lib/config.ts';
import { processMetrics } from '../lib/metrics.ts';
import { createEnricher } from './enricher/sink.ts';
import { createFeaturesSink } from './features/sink.ts';
import { createNeo4jSink } from './neo4j/sink.ts';
import { createPostgresSink } from './postgres/sink.ts';
import { createRedisSink } from './redis/sink.ts';
import { priceFeaturesOf, priceUpdatesOf } from '../topics/index.ts';
import type { Sink, SinkContext, SinkTopics } from './types.ts';

export interface SinkEntry {
  /** The sink's component name and consumer group suffix. */
  readonly name: string;
  readonly description: string;
  create(config: Config, ctx?: SinkContext): Sink;
}

export const sinks = {
  postgres: {
    name: 'postgres-sink', description: 'price-updates, market-events, price-features → PostgreSQL price_data, market_events, price_features',
    create: (c, ctx) => createPostgresSink(c, ctx),
  },
  redis: {
    name: 'redis-sink', description: 'price-updates, price-features → Redis latest price and features (TTL), recent bars and features',
    create: (c, ctx) => createRedisSink(c, ctx),
  },
  neo4j: {
    name: 'neo4j-sink', description: 'price-updates → Neo4j Stock nodes (last_price); graph-mutations → the company graph',
    create: (c, ctx) => createNeo4jSink(c, ctx),
  },
  enricher: {
    name: 'enricher',
    description: 'market-events → Claude (or rule-based) classification → graph-mutations (MarketEvent, AFFECTS) and market_events enrichment',
    create: (c, ctx) => createEnricher(c, ctx, { onCall: (call) => processMetrics().claudeCall(call) }),
  },
  features: {
    name: 'features',
    description: 'price-updates → technical indicators per symbol and interval (state in PostgreSQL) → price-features',
    create: (c, ctx) => createFeaturesSink(c, ctx),
  },
} satisfies Record<string, SinkEntry>;

export type SinkName = keyof typeof sinks;
export const sinkNames = Object.keys(sinks) as SinkName[];

/**
 * The sinks that materialize a store of their own, and so can be cleared, counted and rebuilt (features: its state,
 * and through price-features every bar's indicators again).
 */
export const STORES = ['postgres', 'redis', 'neo4j', 'features'] as const satisfies readonly SinkName[];
export type StoreName = (typeof STORES)[number];

export function isSinkName(s: string): s is SinkName {
  return Object.hasOwn(sinks, s);
}

/** Consumer group id of a sink: `<KAFKA_GROUP_PREFIX>.<sink name>`, e.g. marketstream.postgres-sink. */
export function groupIdOf(config: Config, sink: SinkName): string {
  return `${config.KAFKA_GROUP_PREFIX}.${sinks[sink].name}`;
}

/** The topics a sink reads and writes under this configuration when nothing overrides them (PRICE_UPDATES_TOPIC, PRICE_FEATURES_TOPIC). */
export function configuredSinkTopics(config: Config): SinkTopics {
  return { prices: priceUpdatesOf(config), features: priceFeaturesOf(config) };
}
