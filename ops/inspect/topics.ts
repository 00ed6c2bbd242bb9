// `inspect topics`: partitions with leader, replicas and in-sync replicas, earliest/latest offsets, retention and cleanup
// policy of any topics (by default the configured ones and their DLQs that exist); the broker is read by
// topics/admin.ts (readTopicStates).
import type { Admin } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { partitionRecords, readTopicStates, type PartitionInfo, type TopicState } from '../../topics/admin.ts';
import { configuredTopics } from '../../topics/index.ts';

export interface TopicPartitionView extends PartitionInfo {
  records: number;
}

/** A topic as the broker reports it, with the records of each partition. */
export interface TopicView extends TopicState {
  partitions: TopicPartitionView[];
}

/** The configured topics and their DLQs (price-updates as PRICE_UPDATES_TOPIC names it). */
export function defaultTopicNames(config: Config): string[] {
  return configuredTopics(config).flatMap((t) => [t.name, t.dlq]);
}

/**
 * Describes `names` (missing ones are reported in `missing`); `all` describes every non-internal topic of the cluster.
 * Default: the configured topics that exist.
 */
export async function inspectTopics(admin: Admin, config: Config,
  o: { names?: readonly string[]; all?: boolean } = {}): Promise<{ topics: TopicView[]; missing: string[] }> {
  const present = new Set(await admin.listTopics());
  const wanted = o.all ? [...present].filter((t) => !t.startsWith('_')).sort() : o.names?.length ? [...o.names] : defaultTopicNames(config);
  const missing = o.names?.length ? wanted.filter((t) => !present.has(t)) : [];
  const names = wanted.filter((t) => present.has(t));
  const topics = (await readTopicStates(admin, names)).map((t): TopicView => ({
    ...t, partitions: t.partitions.map((p) => ({ ...p, records: partitionRecords(p) })),
  }));
  return { topics, missing };
}
