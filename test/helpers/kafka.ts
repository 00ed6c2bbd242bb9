// Kafka helpers for integration tests: a quiet client, random topics created and deleted, and reading
// a topic until N messages arrived (or to its end), dead letters by key.
import { Kafka, logLevel, type Admin, type IHeaders, type ITopicConfig } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { randomName } from './random.ts';
import { testConfig } from './config.ts';
import { waitFor } from './wait.ts';

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
 * Reads `topic` from the beginning in a fresh random consumer group until `count` messages arrived,
 * then disconnects; rejects if they do not arrive within `timeoutMs` (default 60 s).
 */
export async function consumeMessages(kafka: Kafka, topic: string, count: number, opts: { timeoutMs?: number; groupId?: string } = {}): Promise<ConsumedMessage[]> {
  return consumeUntil(kafka, topic, (received) => received.length >= count, { ...opts, what: `${count} messages on ${topic}` });
}

/**
 * Reads everything `topic` holds when called (from the beginning, in a fresh random consumer group), and on until
 * `until(received)` holds, if given; rejects after `timeoutMs` (default 60 s).
 */
export async function readTopic(kafka: Kafka, topic: string, opts: { until?: (received: ConsumedMessage[]) => boolean; what?: string; timeoutMs?: number } = {}): Promise<ConsumedMessage[]> {
  const admin = kafka.admin();
  await admin.connect();
  let total = 0;
  try {
    total = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
  return consumeUntil(kafka, topic, (received) => received.length >= total && (opts.until?.(received) ?? true),
    { timeoutMs: opts.timeoutMs, what: opts.what ?? `the ${total} messages on ${topic}` });
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

async function consumeUntil(kafka: Kafka, topic: string, done: (received: ConsumedMessage[]) => boolean, opts: { timeoutMs?: number; groupId?: string; what: string }): Promise<ConsumedMessage[]> {
  const consumer = kafka.consumer({ groupId: opts.groupId ?? randomName('test-group'), sessionTimeout: 10_000, heartbeatInterval: 1000 });
  const received: ConsumedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        received.push({ topic: t, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers ?? {}, timestamp: message.timestamp });
      },
    });
    await waitFor(() => done(received), { timeoutMs: opts.timeoutMs ?? 60_000, what: opts.what })
      .catch((err: Error) => { throw new Error(`${err.message} (got ${received.length})`); });
    return received;
  } finally {
    await consumer.disconnect();
  }
}

