// The record peek against the real broker: the Kafka timestamp of the first record a read_committed reader sees at or
// after an offset, per partition, with no consumer group (a Fetch to each leader); transaction markers and aborted records
// skipped; null at the end of the log; answers for every partition of a request, from their leaders.
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createRecordPeek, partitionKey, type RecordPeek } from '../../lib/records.ts';
import { createSerde } from '../../lib/serde.ts';
import { createTestTopic, deleteTestTopics, randomName, testConfig, testKafka, testLogger } from '../helpers/index.ts';

const config = testConfig();
const kafka = testKafka(config, 'record-peek');
const T = Date.now() - 3_600_000;
const raw = (partition: number, i: number) => ({ partition, key: `k${i}`, value: Buffer.from(`v${i}`), timestamp: String(T + i * 1000) });

describe('record peek', () => {
  let admin: Admin;
  let publisher: Publisher;
  let peek: RecordPeek;
  let topic: string;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topic = await createTestTopic(kafka, { partitions: 3, name: randomName('test-peek') });
    publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('record-peek') });
    await publisher.connect();
    // Partition 0: offsets 0..4 at T, T+1 s, … T+4 s. Partition 1: one record at T+10 s. Partition 2: empty for now.
    await publisher.sendRaw(topic, [0, 1, 2, 3, 4].map((i) => raw(0, i)));
    await publisher.sendRaw(topic, [raw(1, 10)]);
    peek = createRecordPeek(kafka);
  });

  afterAll(async () => {
    await peek?.close();
    await publisher?.disconnect();
    await deleteTestTopics(kafka, topic ? [topic] : []);
    await admin?.disconnect();
  });

  it('reads the timestamp at each offset asked, of several partitions at once; the end of the log is null', async () => {
    const at = await peek.timestamps([
      { topic, partition: 0, offset: 3n }, { topic, partition: 1, offset: 0n }, { topic, partition: 2, offset: 0n },
    ]);
    expect(at).toEqual(new Map([[partitionKey(topic, 0), T + 3000], [partitionKey(topic, 1), T + 10_000], [partitionKey(topic, 2), null]]));
    expect((await peek.timestamps([{ topic, partition: 0, offset: 0n }])).get(partitionKey(topic, 0))).toBe(T);
    expect((await peek.timestamps([{ topic, partition: 0, offset: 5n }])).get(partitionKey(topic, 0))).toBeNull();
  });

  it('skips transaction markers and aborted records, as a read_committed consumer does', async () => {
    const producer = kafka.producer({ transactionalId: randomName('peek-tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      // Partition 2: a committed record (offset 0) and its commit marker (1); an aborted record (2) and its abort marker (3); a plain record (4).
      const committed = await producer.transaction();
      await committed.send({ topic, messages: [{ partition: 2, key: 'c', value: 'committed', timestamp: String(T + 20_000) }] });
      await committed.commit();
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ partition: 2, key: 'a', value: 'aborted', timestamp: String(T + 21_000) }] });
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    await publisher.sendRaw(topic, [{ partition: 2, key: 'p', value: Buffer.from('plain'), timestamp: String(T + 22_000) }]);
    const [p2] = await admin.fetchTopicOffsets(topic).then((ps) => ps.filter((p) => p.partition === 2));
    expect(p2?.high).toBe('5');
    const key = partitionKey(topic, 2);
    expect((await peek.timestamps([{ topic, partition: 2, offset: 0n }])).get(key)).toBe(T + 20_000);
    expect((await peek.timestamps([{ topic, partition: 2, offset: 1n }])).get(key)).toBe(T + 22_000); // past the marker and the aborted record
    expect((await peek.timestamps([{ topic, partition: 2, offset: 2n }])).get(key)).toBe(T + 22_000);
  });
});
