// `inspect topics`: partitions with leader, replicas and in-sync replicas, earliest/latest offsets, retention and cleanup
// policy of any topics (by default the configured ones and their DLQs that exist).
import kafkajs, { type Admin } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { configuredTopics } from '../../topics/index.ts';

const { ConfigResourceTypes } = kafkajs; // CommonJS enum, not a named ESM export

export interface TopicPartitionView {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  earliest: string;
  latest: string;
  records: number;
}

export interface TopicView {
  name: string;
  partitions: TopicPartitionView[];
  /** Broker setting; -1 = forever. */
  retentionMs: number | null;
  cleanupPolicy: string | null;
  /** Records in the log now (sum over partitions of latest - earliest). */
  records: number;
}

/** The configured topics and their DLQs (price-updates as PRICE_UPDATES_TOPIC names it). */
export function defaultTopicNames(config: Config): string[] {
  return configuredTopics(config).flatMap((t) => [t.name, t.dlq]);
}

/**
 * Describes `names` (missing ones are reported in `missing`); `all` describes every non-internal topic of the cluster.
 * Default: the configured topics that exist.
 */
export async function inspectTopics(admin: Admin, config: Config, o: { names?: readonly string[]; all?: boolean } = {}): Promise<{ topics: TopicView[]; missing: string[] }> {
  const present = new Set(await admin.listTopics());
  const wanted = o.all ? [...present].filter((t) => !t.startsWith('_')).sort() : o.names?.length ? [...o.names] : defaultTopicNames(config);
  const missing = o.names?.length ? wanted.filter((t) => !present.has(t)) : [];
  const names = wanted.filter((t) => present.has(t));
  if (!names.length) return { topics: [], missing };
  const metadata = (await admin.fetchTopicMetadata({ topics: names })).topics;
  const configs = (await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'cleanup.policy'] })),
  })).resources;
  const topics = await Promise.all(names.map(async (name): Promise<TopicView> => {
    const offsets = new Map((await admin.fetchTopicOffsets(name)).map((x) => [x.partition, x]));
    const partitions = (metadata.find((m) => m.name === name)?.partitions ?? [])
      .map((p) => {
        const earliest = offsets.get(p.partitionId)?.low ?? '0';
        const latest = offsets.get(p.partitionId)?.high ?? '0';
        return { partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, earliest, latest, records: Number(BigInt(latest) - BigInt(earliest)) };
      })
      .sort((a, b) => a.partition - b.partition);
    const entries = configs.find((c) => c.resourceName === name)?.configEntries ?? [];
    const value = (key: string) => entries.find((e) => e.configName === key)?.configValue ?? null;
    const retention = value('retention.ms');
    return {
      name, partitions,
      retentionMs: retention === null ? null : Number(retention),
      cleanupPolicy: value('cleanup.policy'),
      records: partitions.reduce((n, p) => n + p.records, 0),
    };
  }));
  return { topics, missing };
}
