// Kafka helpers for integration tests: a quiet client, random topics created and deleted, and reading (lib/records'
// bounded reader) a topic until N messages arrived or to its end, dead letters by key.
import { Kafka, logLevel, Partitioners, type Admin, type IHeaders, type ITopicConfig } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { readLog, topicRanges, type LogRange } from '../../lib/records.ts';
import { randomSymbol } from './fixtures.ts';
import { randomName } from './random.ts';
import { waitFor } from './wait.ts';
import { testConfig } from './config.ts';

/** A kafkajs client on the configured brokers that logs nothing. */
export function testKafka(config: Config = testConfig(), clientId = randomName('test-client')): Kafka {
  return new Kafka({ clientId, brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
}

export interface TestTopicOptions {
  /** Default: a random `test-…` name. */
  name?: string;
  partitions?: number;
  /** Topic configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
}

/** Creates a topic (random name unless given), waits until its leaders are known, and returns its name. */
export async function createTestTopic(kafka: Kafka, opts: TestTopicOptions = {}): Promise<string> {
  const topic = opts.name ?? randomName('test');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const def: ITopicConfig = {
      topic,
      numPartitions: opts.partitions ?? 1,
      replicationFactor: 1,
      configEntries: Object.entries(opts.configs ?? {}).map(([name, value]) => ({ name, value })),
    };
    await admin.createTopics({ topics: [def], waitForLeaders: true });
    await waitFor(async () => leadersKnown(admin, topic), { what: `leaders of ${topic}`, timeoutMs: 30_000 });
    return topic;
  } finally {
    await admin.disconnect();
  }
}

async function leadersKnown(admin: Admin, topic: string): Promise<boolean> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = meta.topics[0]?.partitions ?? [];
  return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
}

/** Deletes topics, ignoring ones that are already gone. */
export async function deleteTestTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (!topics.length) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  timestamp: string;
}

/**
 * Reads `topic` until `count` messages arrived (whole fetched batches: more may come), then stops; rejects if they do not
 * arrive within `timeoutMs` (default 60 s). From the beginning in a throwaway group; with `groupId`, from that group's
 * committed offsets, committing what it read.
 */
export async function consumeMessages(
  kafka: Kafka, topic: string, count: number, opts: { timeoutMs?: number; groupId?: string } = {},
): Promise<ConsumedMessage[]> {
  return consumeUntil(kafka, topic, { to: 'open', until: (received) => received.length >= count, ...opts, what: `${count} messages on ${topic}` });
}

/**
 * Reads everything `topic` holds when called (from the beginning, in a throwaway group), and on until
 * `until(received)` holds, if given; rejects after `timeoutMs` (default 60 s).
 */
export async function readTopic(
  kafka: Kafka, topic: string, opts: { until?: (received: ConsumedMessage[]) => boolean; what?: string; timeoutMs?: number } = {},
): Promise<ConsumedMessage[]> {
  const until = opts.until;
  const received = await consumeUntil(kafka, topic, { to: 'end', timeoutMs: opts.timeoutMs, what: opts.what ?? `the messages on ${topic}` });
  if (!until || until(received)) return received;
  // More wanted than the topic held: read on from where that read ended.
  const more = await consumeUntil(kafka, topic, {
    to: 'open', after: received, until: (next) => until([...received, ...next]), timeoutMs: opts.timeoutMs, what: opts.what ?? `more messages on ${topic}`,
  });
  return [...received, ...more];
}

/** A dead letter as read back: its key and its headers as strings (error-class, error-message, original-topic, consumer-group…). */
export interface DeadLetterRead {
  key: string;
  headers: Record<string, string>;
}

/** The dead letters in `dlq` whose key is one of `keys`; waits until `expected` of them arrived (0: what is there). */
export async function readDlq(kafka: Kafka, dlq: string, keys: readonly string[], expected: number): Promise<DeadLetterRead[]> {
  const mine = (received: ConsumedMessage[]) => received.filter((m) => m.key !== null && keys.includes(m.key.toString()));
  const received = await readTopic(kafka, dlq, { until: (r) => mine(r).length >= expected, what: `${expected} DLQ records for ${keys.join(', ')}` });
  return mine(received).map((m) => ({ key: m.key!.toString(), headers: headersToStrings(m.headers) }));
}

interface ConsumeOptions {
  to: 'end' | 'open';
  /** Checked after each fetched batch. */
  until?: (received: ConsumedMessage[]) => boolean;
  /** Messages already read: the read goes on after the last of each partition. */
  after?: readonly ConsumedMessage[];
  timeoutMs?: number;
  groupId?: string;
  what: string;
}

async function consumeUntil(kafka: Kafka, topic: string, o: ConsumeOptions): Promise<ConsumedMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ranges: LogRange[];
  try {
    ranges = await topicRanges(admin, topic, { from: o.groupId ? { group: o.groupId } : 'earliest', to: o.to });
  } finally {
    await admin.disconnect();
  }
  for (const m of o.after ?? []) {
    const r = ranges.find((x) => x.partition === m.partition)!;
    if (BigInt(m.offset) >= r.start) r.start = BigInt(m.offset) + 1n;
  }
  const received: ConsumedMessage[] = [];
  if (o.until?.(received)) return received; // nothing wanted (0 messages)
  const timeoutMs = o.timeoutMs ?? 60_000;
  const { ended } = await readLog(kafka, {
    ranges, group: o.groupId ? { own: o.groupId } : { throwaway: randomName('test-group') }, timeoutMs,
    onRecord(m, at) {
      received.push({ ...at, offset: m.offset, key: m.key, value: m.value, headers: m.headers ?? {}, timestamp: m.timestamp });
    },
    onBatchEnd: async (at, ctl) => {
      const last = received.findLast((m) => m.partition === at.partition);
      if (o.groupId && last) await ctl.commit([{ ...at, offset: String(BigInt(last.offset) + 1n) }]);
      if (o.until?.(received)) ctl.stop();
    },
  });
  if (ended === 'timeout') throw new Error(`timed out after ${timeoutMs} ms waiting for ${o.what} (got ${received.length})`);
  return received;
}

/** The group's committed offset per partition of `topic` (-1 where it has none). */
export async function committedOffsets(admin: Admin, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
}

/**
 * Reads the group's committed offsets of `topic` every 200 ms until stop(), which resolves with every decrease seen
 * (`partition p: from → to`): a group's committed offsets must never move back outside replay and rebuild.
 */
export function watchCommittedOffsets(admin: Admin, groupId: string, topic: string): { stop(): Promise<string[]> } {
  const decreases: string[] = [];
  const highest = new Map<number, bigint>();
  let polling = true;
  const poll = (async () => {
    while (polling) {
      for (const [p, o] of await committedOffsets(admin, groupId, topic)) {
        if (o < (highest.get(p) ?? -1n)) decreases.push(`partition ${p}: ${highest.get(p)} → ${o}`);
        if (o > (highest.get(p) ?? -1n)) highest.set(p, o);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return { async stop() { polling = false; await poll; return decreases; } };
}

/**
 * `perPartition` random symbols for each of `partitions` partitions (the producers' murmur2 partitioner), in partition
 * order: a test whose scenario needs records in every partition cannot be left with an empty one by chance.
 */
export function symbolsInEveryPartition(partitions: number, perPartition: number): string[] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0] }));
  const found: string[][] = Array.from({ length: partitions }, () => []);
  while (found.some((s) => s.length < perPartition)) {
    const symbol = randomSymbol();
    const p = partitioner({ topic: 't', partitionMetadata: partitionMetadata as never, message: { key: symbol, value: null } });
    if (found[p]!.length < perPartition && !found[p]!.includes(symbol)) found[p]!.push(symbol);
  }
  return found.flat();
}
