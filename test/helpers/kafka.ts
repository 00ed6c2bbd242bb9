// Kafka helpers for integration tests: a quiet client, random topics created and deleted, and reading
// a topic until N messages arrived.
import { Kafka, logLevel, type Admin, type IHeaders, type ITopicConfig } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
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
    await waitFor(() => received.length >= count, { timeoutMs: opts.timeoutMs ?? 60_000, what: `${count} messages on ${topic}` })
      .catch((err: Error) => { throw new Error(`${err.message} (got ${received.length})`); });
    return received;
  } finally {
    await consumer.disconnect();
  }
}
