// Applying and inspecting the topics of topics/index.ts: idempotent creation of each topic and its `.dlq`
// (existing topics are left as they are), and a description of partitions, leaders, offsets and retention.
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';
import { configuredTopics, dlqSettings, type TopicDef, type TopicSettings, type TopicsConfig } from './index.ts';

// kafkajs is CommonJS and Node's ESM loader does not see this enum as a named export.
const { ConfigResourceTypes } = kafkajs;

export interface EnsureResult {
  /** Topics this call created. */
  created: string[];
  /** Topics that were there already (left untouched). */
  existing: string[];
}

/** Each topic with its settings, main topics followed by their DLQ. */
export function plannedTopics(config: TopicsConfig,
  topics: readonly TopicDef<unknown>[] = configuredTopics(config)): Array<{ name: string; settings: TopicSettings }> {
  return topics.flatMap((t) => {
    const main = t.settings(config);
    return [{ name: t.name, settings: main }, { name: t.dlq, settings: dlqSettings(main) }];
  });
}

const LISTED_WITHIN_MS = 10_000;

/** Whether every one of `names` is listed by the cluster, asking again every 200 ms for up to `withinMs`. */
async function allListed(admin: Admin, names: readonly string[], withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const now = new Set(await admin.listTopics());
    if (names.every((n) => now.has(n))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}

/** Creates missing topics (and DLQs) with their settings; existing ones are not changed. Safe to run concurrently. */
export async function ensureTopics(kafka: Kafka, config: TopicsConfig, topics: readonly TopicDef<unknown>[] = configuredTopics(config)): Promise<EnsureResult> {
  return withAdmin(kafka, async (admin) => {
    const planned = plannedTopics(config, topics);
    const present = new Set(await admin.listTopics());
    const missing = planned.filter((p) => !present.has(p.name));
    const created: string[] = [];
    if (missing.length) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map(({ name, settings }) => ({
            topic: name,
            numPartitions: settings.partitions,
            replicationFactor: settings.replicationFactor,
            configEntries: [
              { name: 'retention.ms', value: String(settings.retentionMs) },
              { name: 'cleanup.policy', value: settings.cleanupPolicy },
              ...(settings.minInsyncReplicas === undefined ? [] : [{ name: 'min.insync.replicas', value: String(settings.minInsyncReplicas) }]),
            ],
          })),
        });
      } catch (err) {
        // Another process created some of them in the meantime, or (kafkajs's waitForLeaders) a broker answered the
        // metadata request before it learnt of the new topics (UNKNOWN_TOPIC_OR_PARTITION, seen under load): fine, as
        // long as every topic exists within a few seconds.
        if (!await allListed(admin, missing.map((m) => m.name), LISTED_WITHIN_MS)) throw err;
      }
      created.push(...missing.map((m) => m.name));
    }
    return { created, existing: planned.filter((p) => present.has(p.name)).map((p) => p.name) };
  });
}

export interface PartitionInfo {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  /** Earliest offset still in the log. */
  earliest: string;
  /** Offset the next record will get (end of the log). */
  latest: string;
}

/** A topic as the broker reports it. */
export interface TopicState {
  name: string;
  partitions: PartitionInfo[];
  /** Broker setting; -1 = forever. */
  retentionMs: number | null;
  cleanupPolicy: string | null;
  /** The topic's min.insync.replicas (its own or the broker's default). */
  minInsyncReplicas: number | null;
  /** Records currently in the log (sum of latest - earliest). */
  records: number;
}

/** Records in one partition's log now (latest - earliest). */
export const partitionRecords = (p: PartitionInfo): number => Number(BigInt(p.latest) - BigInt(p.earliest));

/** Partitions (leader, replicas, in-sync replicas, earliest/latest offsets), retention, cleanup policy and min ISR of existing topics. */
export async function readTopicStates(admin: Admin, names: readonly string[]): Promise<TopicState[]> {
  if (!names.length) return [];
  const metadata = (await admin.fetchTopicMetadata({ topics: [...names] })).topics;
  const configs = (await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'cleanup.policy', 'min.insync.replicas'] })),
  })).resources;
  return Promise.all(names.map(async (name): Promise<TopicState> => {
    const offsets = new Map((await admin.fetchTopicOffsets(name)).map((o) => [o.partition, o]));
    const meta = metadata.find((m) => m.name === name);
    const partitions = (meta?.partitions ?? [])
      .map((p) => ({
        partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr,
        earliest: offsets.get(p.partitionId)?.low ?? '0', latest: offsets.get(p.partitionId)?.high ?? '0',
      }))
      .sort((a, b) => a.partition - b.partition);
    const entries = configs.find((c) => c.resourceName === name)?.configEntries ?? [];
    const value = (key: string) => entries.find((e) => e.configName === key)?.configValue ?? null;
    const retention = value('retention.ms');
    const minIsr = value('min.insync.replicas');
    return {
      name, partitions,
      retentionMs: retention === null ? null : Number(retention),
      cleanupPolicy: value('cleanup.policy'),
      minInsyncReplicas: minIsr === null ? null : Number(minIsr),
      records: partitions.reduce((n, p) => n + partitionRecords(p), 0),
    };
  }));
}

/** A configured topic: what the code asks for, and what the broker has (nothing when the topic does not exist). */
export interface TopicDescription extends TopicState {
  exists: boolean;
  /** Settings the code asks for. */
  expected: TopicSettings;
}

/** Partitions, leaders, earliest/latest offsets, retention and min ISR of each topic and its DLQ. */
export async function describeTopics(kafka: Kafka, config: TopicsConfig,
  topics: readonly TopicDef<unknown>[] = configuredTopics(config)): Promise<TopicDescription[]> {
  return withAdmin(kafka, async (admin) => {
    const planned = plannedTopics(config, topics);
    const present = new Set(await admin.listTopics());
    const states = new Map((await readTopicStates(admin, planned.filter((p) => present.has(p.name)).map((p) => p.name))).map((s) => [s.name, s]));
    return planned.map(({ name, settings }): TopicDescription => {
      const state = states.get(name);
      if (!state) return { name, exists: false, expected: settings, partitions: [], retentionMs: null, cleanupPolicy: null,
        minInsyncReplicas: null, records: 0 };
      return { name, exists: true, expected: settings, partitions: state.partitions, retentionMs: state.retentionMs, cleanupPolicy: state.cleanupPolicy,
        minInsyncReplicas: state.minInsyncReplicas, records: state.records };
    });
  });
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}
