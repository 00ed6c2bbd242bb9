// Topic admin against the real broker: ensureTopics creates each topic and its DLQ with the settings from code,
// is idempotent, leaves existing topics alone, and describeTopics reports partitions, offsets and retention.
import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { describeTopics, ensureTopics } from '../../topics/admin.ts';
import { graphMutations, priceUpdates, withName } from '../../topics/index.ts';
import { testKafka, testLogger } from '../helpers/index.ts';

const DAY_MS = 86_400_000;
const config = { ...loadConfig(), TOPIC_PARTITIONS: 3, PRICE_RETENTION_DAYS: 21, EVENT_RETENTION_DAYS: 400 };
const kafka = testKafka(config, 'admin-test');
const admin = kafka.admin();
const suffix = randomUUID().slice(0, 8);
const prices = withName(priceUpdates, `test-admin-prices-${suffix}`);
const graph = withName(graphMutations, `test-admin-graph-${suffix}`);
const names = [prices.name, prices.dlq, graph.name, graph.dlq];

beforeAll(async () => { await admin.connect(); });
afterAll(async () => {
  await admin.deleteTopics({ topics: names }).catch(() => {});
  await admin.disconnect();
});

async function brokerConfig(topic: string): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }] });
  return Object.fromEntries(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
}

describe('topic admin (real Kafka)', () => {
  it('creates each topic and its DLQ with the configured settings, and a second run changes nothing', async () => {
    const first = await ensureTopics(kafka, config, [prices, graph]);
    expect(first.created.sort()).toEqual([...names].sort());
    expect(first.existing).toEqual([]);

    const second = await ensureTopics(kafka, config, [prices, graph]);
    expect(second.created).toEqual([]);
    expect(second.existing.sort()).toEqual([...names].sort());

    expect(await brokerConfig(prices.name)).toEqual({ 'retention.ms': String(21 * DAY_MS), 'cleanup.policy': 'delete' });
    expect(await brokerConfig(graph.name)).toEqual({ 'retention.ms': String(400 * DAY_MS), 'cleanup.policy': 'delete' });
    expect(await brokerConfig(prices.dlq)).toEqual({ 'retention.ms': String(21 * DAY_MS), 'cleanup.policy': 'delete' });
    const { topics } = await admin.fetchTopicMetadata({ topics: names });
    const partitions = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
    expect(partitions).toEqual({ [prices.name]: 3, [prices.dlq]: 1, [graph.name]: 3, [graph.dlq]: 1 });
  });

  it('leaves an existing topic as it is (no failure, no change)', async () => {
    const existing = withName(priceUpdates, `test-admin-existing-${suffix}`);
    names.push(existing.name, existing.dlq);
    await admin.createTopics({ topics: [{ topic: existing.name, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    const result = await ensureTopics(kafka, config, [existing]);
    expect(result).toEqual({ created: [existing.dlq], existing: [existing.name] });
    expect((await brokerConfig(existing.name))['retention.ms']).toBe('3600000');
    const [meta] = (await admin.fetchTopicMetadata({ topics: [existing.name] })).topics;
    expect(meta!.partitions).toHaveLength(2);
  });

  it('describes partitions, leaders, offsets and retention', async () => {
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('admin-test') });
    await publisher.connect();
    await publisher.sendRaw(prices.name, ['x', 'y'].map((v) => ({ key: 'AAPL', value: Buffer.from(v) }))).finally(() => publisher.disconnect());
    const described = await describeTopics(kafka, config, [prices]);
    expect(described.map((d) => d.name)).toEqual([prices.name, prices.dlq]);
    const [main, dlq] = described;
    expect(main).toMatchObject({ exists: true, retentionMs: 21 * DAY_MS, cleanupPolicy: 'delete', records: 2 });
    expect(main!.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    for (const p of main!.partitions) expect(p.leader).toBeGreaterThanOrEqual(0);
    expect(main!.partitions.reduce((n, p) => n + Number(p.latest), 0)).toBe(2);
    expect(dlq).toMatchObject({ exists: true, records: 0 });
    const missing = await describeTopics(kafka, config, [withName(priceUpdates, `test-admin-missing-${suffix}`)]);
    expect(missing.every((d) => !d.exists)).toBe(true);
  });
});
