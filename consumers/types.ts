// The sink lifecycle: built without I/O, then connect(), writeBatch() per topic-partition batch, close().
// A sink never sees bytes nor commits offsets: the runner decodes, validates, dead-letters and commits (a record says
// where it was read, for provenance).
import type { Logger } from '../lib/logger.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { GraphMutation, MarketEvent, PriceFeatures, PriceUpdate } from '../schemas/types.generated.ts';
import type { TopicDef } from '../topics/index.ts';
import type { PriceInterval } from '../topics/price-update.ts';

export interface SinkRecord<T> {
  /** Decoded value; null for a tombstone. */
  readonly value: T | null;
  readonly key: string | null;
  /** Kafka record timestamp (ms), the start of the end-to-end latency measure. */
  readonly timestamp: number;
  /** Where the record was read (the runner always sets these; records built by hand may lack them): for provenance. */
  readonly topic?: string;
  readonly partition?: number;
  /** Kafka offset (a decimal string, as kafkajs gives it). */
  readonly offset?: string;
  /**
   * The record's version among the records of its key (lib/record-headers.ts recordVersion: its offset, or the offset
   * of the record a redriven dead letter restates). A store applies a write only when it is newer than the version it
   * holds for the row, key, node or relationship, so a stale writer (a member that lost the partition while its write
   * was in flight, a redrive) never puts an older value over a newer one. Absent on records built by hand.
   */
  readonly version?: number;
}

export interface TopicHandler<T> {
  readonly topic: TopicDef<T>;
  /** Reason the record is invalid, or null. Invalid records go to the topic's DLQ. */
  validate?(value: T): string | null;
  /** True when tombstones are meaningful (deletes); otherwise they are dead-lettered. */
  readonly acceptsTombstones?: boolean;
  /**
   * Writes one batch (records of one partition, in offset order) idempotently.
   * Throws a retriable error when the store is unavailable (the runner retries with back-off and never skips),
   * a non-retriable one when the data is at fault (the runner isolates the bad record and dead-letters it).
   */
  writeBatch(records: readonly SinkRecord<T>[]): Promise<WriteResult | void>;
  /**
   * The bar a (valid) value carries, on a topic of bars: the runner reports the newest one written per series with each
   * batch (RunnerHooks onWritten `bars`), which is how the group monitor knows a store's data age without asking it.
   * Null for a value the store keeps nothing of.
   */
  barOf?(value: T): BarOfRecord | null;
}

/** The series, time and source of the bar a record carries. */
export interface BarOfRecord { symbol: string; interval: PriceInterval; eventTime: number; source: string }

/** What a write reports beyond success. */
export interface WriteResult {
  /**
   * Records (or the rows, keys, nodes and relationships they write) the store refused because it already held a newer
   * version: a stale writer, a redelivery or a replay over a store that is ahead. Counted in
   * marketstream_stale_writes_refused_total.
   */
  stale?: number;
}

export interface Sink {
  /** Component name, also the consumer group suffix: postgres-sink, redis-sink, neo4j-sink, enricher. */
  readonly name: string;
  readonly handlers: readonly TopicHandler<any>[];
  connect(): Promise<void>;
  /** Cheap liveness probe of the store, for /health and for deciding when to resume. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Clears what this sink materialized (for `rebuild`: clear, then replay the log). Never touches data the sink does
   * not derive from its topics (e.g. the enricher's classification cache). Called after connect(), with the group stopped.
   */
  reset?(scope?: ResetScope): Promise<void>;
  /** What this sink has materialized (rows per table, keys per pattern, nodes per label…), for `rebuild`. After connect(). */
  counts?(scope?: ResetScope): Promise<StoreCounts>;
  /**
   * What a replay of `log` would not bring back (within the scope): data this sink materialized from records that
   * retention (or a deleteRecords) has since removed from the start of its topics. Empty when nothing would be lost.
   * For `rebuild`, before it clears anything. After connect().
   */
  replayLoss?(log: RetainedLog, scope?: ResetScope): Promise<ReplayLoss[]>;
}

/** A sink's topics as a rebuild would replay them: where each partition now starts, and what it still holds. */
export interface RetainedLog {
  /** Partitions of `topic` whose first records are gone (earliest offset past 0), with how many; empty when none. */
  truncated(topic: string): ReadonlyArray<{ partition: number; dropped: number }>;
  /** The partition records with this key go to (the producers' partitioner), so a key's data can be tied to a partition. */
  partitionOf(topic: string, key: string): number;
  /**
   * The oldest `time(value)` per record key among the records still in the truncated partitions of `topic`
   * (tombstones and undecodable records skipped); only the given keys when `keys` is set. Reads those partitions.
   */
  oldestByKey<T>(topic: TopicDef<T>, time: (value: T) => number, keys?: readonly string[]): Promise<ReadonlyMap<string, number>>;
}

/** Something a sink materialized that a replay would not bring back. */
export interface ReplayLoss {
  /** What, e.g. `price_data rows`. */
  what: string;
  count: number;
  /** Event-time range (epoch ms) of what would be lost, when known; `to` alone: made before then. */
  from?: number;
  to?: number;
  /** The topic whose removed records made it. */
  topic: string;
  /** More context, e.g. `of 3 symbols`. */
  detail?: string;
}

/** What was counted → how many (e.g. `price_data rows`, `bars:* keys`, `Company nodes`). */
export type StoreCounts = Record<string, number>;

/** Limits a reset to some keys (tests and partial rebuilds on a shared store); everything when absent. */
export interface ResetScope {
  /** Only what is keyed by these symbols. */
  symbols?: readonly string[];
}

/**
 * What the runner's process hands a sink it creates: topic overrides, and the shared DLQ publisher (whose serde encodes
 * for every topic) for sinks that also produce, like the enricher. Creating a sink does no I/O, so ops can build one to
 * read its topics without these.
 */
export interface SinkContext {
  topics?: SinkTopics;
  publisher?: Publisher;
  logger?: Logger;
}

/** Topic overrides for a sink (isolated topics in tests and benchmarks); defaults are the topics in topics/index.ts. */
export interface SinkTopics {
  prices?: TopicDef<PriceUpdate>;
  events?: TopicDef<MarketEvent>;
  mutations?: TopicDef<GraphMutation>;
  /** price-features, read by the postgres-sink and the redis-sink. */
  features?: TopicDef<PriceFeatures>;
}
