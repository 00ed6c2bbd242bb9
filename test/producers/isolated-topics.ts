// For producer integration tests: isolated copies of a topic (random name, created with its DLQ, deleted at the end)
// and reading one back decoded, with key and headers as strings, or counting what it holds; the testbed every
// producer file sets up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../lib/config.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { createSerde, type Serde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { withName, type TopicDef } from '../../topics/index.ts';
import { consumeMessages, deleteTestTopics, randomName, testConfig, testKafka, testLogger } from '../helpers/index.ts';

export function isolatedTopics<T>(o: { kafka: Kafka; config: Config; serde: Serde; def: TopicDef<T>; prefix: string }) {
  const created: TopicDef<T>[] = [];
  return {
    /** A fresh copy of the topic (and its DLQ) under a random name. */
    async create(): Promise<TopicDef<T>> {
      const topic = withName(o.def, randomName(o.prefix));
      await ensureTopics(o.kafka, o.config, [topic]);
      created.push(topic);
      return topic;
    },
    /** The first `count` records of `topic`, decoded. */
    async decodeAll(topic: TopicDef<T>, count: number) {
      const messages = await consumeMessages(o.kafka, topic.name, count);
      return Promise.all(messages.map(async (m) => ({
        key: m.key?.toString() ?? null,
        headers: headersToStrings(m.headers),
        value: (await o.serde.decode(topic, m.value as Buffer)).value,
      })));
    },
    /** How many records `topic` holds: what reached Kafka, whatever the producer counted. */
    async count(topic: TopicDef<T>): Promise<number> {
      const admin = o.kafka.admin();
      await admin.connect();
      try {
        return (await admin.fetchTopicOffsets(topic.name)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      } finally {
        await admin.disconnect();
      }
    },
    /** Deletes every topic (and DLQ) created. */
    deleteAll: () => deleteTestTopics(o.kafka, created.flatMap((t) => [t.name, t.dlq])),
  };
}

/**
 * What a producer integration file sets up once: configuration, Kafka client, serde, quiet logger, a scratch folder,
 * isolated copies of `def`, and a connected publisher (`publisher()`, from beforeAll on); all removed in afterAll.
 */
export function producerTestbed<T>(def: TopicDef<T>, o: { prefix: string; name: string; beforeConnect?: () => void }) {
  const config = testConfig();
  const kafka = testKafka(config);
  const serde = createSerde(config);
  const logger = testLogger(o.name);
  const dir = mkdtempSync(join(tmpdir(), `marketstream-${o.name}-`));
  const topics = isolatedTopics({ kafka, config, serde, def, prefix: o.prefix });
  let publisher: Publisher | undefined;
  beforeAll(async () => {
    o.beforeConnect?.();
    publisher = createPublisher({ kafka, serde, logger });
    await publisher.connect();
  });
  afterAll(async () => {
    await publisher?.disconnect();
    await topics.deleteAll();
    rmSync(dir, { recursive: true, force: true });
  });
  const connected = (): Publisher => {
    if (!publisher) throw new Error('the publisher connects in beforeAll');
    return publisher;
  };
  return { config, kafka, serde, logger, dir, topics, publisher: connected };
}
