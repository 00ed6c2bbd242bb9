// Topics as code: name, key, value schema, and settings. `marketstream topics create` applies them idempotently.
import type { GraphMutation, MarketEvent, PriceFeatures, PriceUpdate } from '../schemas/types.generated.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The settings topics are sized and named by (a subset of lib/config's Config, which satisfies it). */
export interface TopicsConfig {
  readonly TOPIC_PARTITIONS: number;
  readonly TOPIC_REPLICATION_FACTOR: number;
  readonly TOPIC_MIN_INSYNC_REPLICAS: number;
  readonly PRICE_RETENTION_DAYS: number;
  readonly EVENT_RETENTION_DAYS: number;
  readonly PRICE_UPDATES_TOPIC: string;
  readonly PRICE_FEATURES_TOPIC: string;
}

export interface TopicDef<T> {
  /** Kafka topic name. */
  readonly name: string;
  /** Dead-letter topic for records of this topic that cannot be decoded or are invalid. */
  readonly dlq: string;
  /** Registry subject of the value schema (TopicNameStrategy). */
  readonly subject: string;
  /** File under schemas/ holding the value schema (an absolute path is taken as is). */
  readonly schemaFile: string;
  /** The record key: records with the same key stay in one partition, in order. */
  key(value: T): string;
  /** Broker-side settings for this topic under the given configuration. */
  settings(config: TopicsConfig): TopicSettings;
}

export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
  /** min.insync.replicas: replicas that must have a record before an acks=all send succeeds; absent = the broker's default. */
  minInsyncReplicas?: number;
  retentionMs: number;
  cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
}

/** The settings every main topic has: sized by the configuration, `delete` cleanup after `days` of retention. */
function deleteRetention(c: TopicsConfig, days: number): TopicSettings {
  return { partitions: c.TOPIC_PARTITIONS, replicationFactor: c.TOPIC_REPLICATION_FACTOR, minInsyncReplicas: c.TOPIC_MIN_INSYNC_REPLICAS,
    retentionMs: days * DAY_MS, cleanupPolicy: 'delete' };
}

function topic<T>(name: string, schemaFile: string, key: (v: T) => string, settings: (c: TopicsConfig) => TopicSettings): TopicDef<T> {
  return { name, dlq: `${name}.dlq`, subject: `${name}-value`, schemaFile, key, settings };
}

export const priceUpdates = topic<PriceUpdate>('price-updates', 'price-update.avsc', (v) => v.symbol, (c) => deleteRetention(c, c.PRICE_RETENTION_DAYS));

/** News and other events; key = event id, so duplicates of an article land in one partition, in order. */
export const marketEvents = topic<MarketEvent>('market-events', 'market-event.avsc', (v) => v.id, (c) => deleteRetention(c, c.EVENT_RETENTION_DAYS));

/**
 * Graph changes; key = entity key (see graphMutationKey). Not compacted: an UpsertNode sets only the properties it
 * carries, so the older mutations of a key are still needed to rebuild the graph from the log.
 */
export const graphMutations = topic<GraphMutation>('graph-mutations', 'graph-mutation.avsc', (v) => graphMutationKey(v), (c) =>
  deleteRetention(c, c.EVENT_RETENTION_DAYS));

/**
 * The entity a mutation changes: `<label>:<key>` for a node (`Company:AAPL`), `<type>:<from key>:<to key>` for a
 * relationship (`CORRELATED_WITH:AAPL:MSFT`; the type fixes both labels). Upserts and deletes of one entity share it,
 * so they stay in order; a tombstone under it deletes that entity.
 */
export function graphMutationKey(m: GraphMutation): string {
  const op = m.op;
  if ('UpsertNode' in op) return `${op.UpsertNode.label}:${op.UpsertNode.key}`;
  const r = 'UpsertRelationship' in op ? op.UpsertRelationship : op.DeleteRelationship;
  return `${r.type}:${r.from.key}:${r.to.key}`;
}

/**
 * The features group's output (consumers/features): the indicators of each bar; key = symbol, as on price-updates, so
 * with the same partition count a symbol's features sit in the partition number its bars do. Kept as long as prices.
 */
export const priceFeatures = topic<PriceFeatures>('price-features', 'price-features.avsc', (v) => v.symbol, (c) => deleteRetention(c, c.PRICE_RETENTION_DAYS));

/** Every main topic; each also has its `.dlq`. */
export const allTopics: readonly TopicDef<any>[] = [priceUpdates, marketEvents, graphMutations, priceFeatures];

/** DLQ topics keep records as long as their main topic, on a single partition (order of failure). */
export function dlqSettings(main: TopicSettings): TopicSettings {
  return { ...main, partitions: 1, cleanupPolicy: 'delete' };
}

/**
 * The same contract under another topic name (its own DLQ and subject): isolated topics for tests and benchmarks,
 * or a per-environment namespace on a shared cluster.
 */
export function withName<T>(def: TopicDef<T>, name: string): TopicDef<T> {
  return { ...def, name, dlq: `${name}.dlq`, subject: `${name}-value` };
}

/**
 * price-updates under the name PRICE_UPDATES_TOPIC gives (default `price-updates`): a per-environment namespace on a
 * shared cluster. Code that reads or writes prices without an explicit override resolves the topic through this.
 */
export function priceUpdatesOf(config: TopicsConfig): TopicDef<PriceUpdate> {
  return config.PRICE_UPDATES_TOPIC === priceUpdates.name ? priceUpdates : withName(priceUpdates, config.PRICE_UPDATES_TOPIC);
}

/** price-features under the name PRICE_FEATURES_TOPIC gives (default `price-features`), as priceUpdatesOf. */
export function priceFeaturesOf(config: TopicsConfig): TopicDef<PriceFeatures> {
  return config.PRICE_FEATURES_TOPIC === priceFeatures.name ? priceFeatures : withName(priceFeatures, config.PRICE_FEATURES_TOPIC);
}

/** allTopics as this configuration names them (price-updates and price-features renamed by PRICE_UPDATES_TOPIC, PRICE_FEATURES_TOPIC). */
export function configuredTopics(config: TopicsConfig): readonly TopicDef<any>[] {
  return allTopics.map((t) => (t === priceUpdates ? priceUpdatesOf(config) : t === priceFeatures ? priceFeaturesOf(config) : t));
}
