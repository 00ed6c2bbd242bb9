// `marketstream replay --group postgres` without --topic (README: "Without --topic a sink's group moves on every topic
// it reads"), as the real CLI against Kafka: the postgres sink reads price-updates (here a fresh topic named by
// PRICE_UPDATES_TOPIC), market-events and price-features (a fresh one named by PRICE_FEATURES_TOPIC). Its group (a fresh
// KAFKA_GROUP_PREFIX) starts committed at the end of the price topic and with nothing on the others; `--to earliest`
// leaves it committed at the start of all.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceFeaturesOf, priceUpdatesOf } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger } from '../helpers/index.ts';

const exec = promisify(execFile);

describe('marketstream replay --group <sink> without --topic', () => {
  const env = {
    PRICE_UPDATES_TOPIC: randomName('test-replay-cli'), PRICE_FEATURES_TOPIC: randomName('test-replay-cli-features'),
    KAFKA_GROUP_PREFIX: randomName('test-replay-cli'), TOPIC_PARTITIONS: '2',
  };
  const config = testConfig(env);
  const prices = priceUpdatesOf(config);
  const features = priceFeaturesOf(config);
  const groupId = groupIdOf(config, 'postgres');
  const kafka = testKafka(config);
  let admin: Admin;

  /** Committed offsets of the group per topic and partition (absent: no commit). */
  const committed = async (topics: string[]) => Object.fromEntries((await admin.fetchOffsets({ groupId, topics }))
    .map((t) => [t.topic, Object.fromEntries(t.partitions.filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, p.offset]))]));
  const bounds = async (topic: string) => Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, { low: p.low, high: p.high }]));

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await ensureTopics(kafka, config, [prices, features]);
    await ensureTopics(kafka, testConfig(), [marketEvents]); // the shared topic, as every command creates it
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('replay-cli-test') });
    await publisher.connect();
    try {
      await publisher.send(prices, Array.from({ length: 4 }, (_, i) => bar(randomSymbol(), i, 100 + i)), { source: 'test' });
    } finally {
      await publisher.disconnect();
    }
    const ends = await bounds(prices.name);
    await admin.setOffsets({ groupId, topic: prices.name, partitions: Object.entries(ends).map(([p, b]) => ({ partition: Number(p), offset: b.high })) });
  });

  afterAll(async () => {
    await admin?.deleteGroups([groupId]).catch(() => {});
    await admin?.disconnect();
    await deleteTestTopics(kafka, [prices.name, prices.dlq, features.name, features.dlq]);
  });

  it('moves the group on every topic the sink reads', async () => {
    const [priceEnds, eventBounds, featureBounds] = [await bounds(prices.name), await bounds(marketEvents.name), await bounds(features.name)];
    expect(Object.values(priceEnds).reduce((n, b) => n + Number(b.high), 0)).toBe(4);
    expect(await committed([prices.name, marketEvents.name, features.name])).toEqual({
      [prices.name]: Object.fromEntries(Object.entries(priceEnds).map(([p, b]) => [p, b.high])), [marketEvents.name]: {}, [features.name]: {},
    });

    const { stdout } = await exec(process.execPath, ['bin/marketstream.js', 'replay', '--group', 'postgres', '--to', 'earliest', '--json'],
      { env: { ...process.env, ...env, LOG_LEVEL: 'error' } });
    const result = JSON.parse(stdout) as {
      groupId: string; applied: boolean; changes: Array<{ topic: string; partition: number; before: string | null; after: string }>;
    };
    expect(result).toMatchObject({ groupId, applied: true });
    const expected = [
      ...Object.entries(priceEnds).map(([p, b]) => ({ topic: prices.name, partition: Number(p), before: b.high, after: b.low })),
      ...Object.entries(eventBounds).map(([p, b]) => ({ topic: marketEvents.name, partition: Number(p), before: null, after: b.low })),
      ...Object.entries(featureBounds).map(([p, b]) => ({ topic: features.name, partition: Number(p), before: null, after: b.low })),
    ];
    const sorted = <T extends { topic: string; partition: number }>(xs: T[]) =>
      [...xs].sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition);
    expect(sorted(result.changes.map(({ topic, partition, before, after }) => ({ topic, partition, before, after })))).toEqual(sorted(expected));

    // Applied on every topic: the group now starts at the beginning of each.
    expect(await committed([prices.name, marketEvents.name, features.name])).toEqual({
      [prices.name]: Object.fromEntries(Object.entries(priceEnds).map(([p, b]) => [p, b.low])),
      [marketEvents.name]: Object.fromEntries(Object.entries(eventBounds).map(([p, b]) => [p, b.low])),
      [features.name]: Object.fromEntries(Object.entries(featureBounds).map(([p, b]) => [p, b.low])),
    });
  });
});
