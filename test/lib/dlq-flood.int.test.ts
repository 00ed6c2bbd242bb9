// A flood of bad records must not wedge a group: 20,000 undecodable records in a row (about 190 bytes each, plus the
// dead-letter headers) all reach the DLQ, in requests that fit the DLQ topic's max.message.bytes, and the good records
// behind them land. A single record too large for the DLQ keeps its headers, its size and its hash instead.
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';

const FLOOD = 20_000;
const GOOD = 40;

describe('dead letters of a flood of bad records', () => {
  const config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-flood') });
  const logger = testLogger('dlq-flood-test');
  const kafka = testKafka(config);
  const topic = withName(priceUpdates, randomName('test-flood'));
  const pool = createPgPool(config, { max: 1 });
  let sinks: RunningSinks | undefined;

  afterAll(async () => {
    await sinks?.stop();
    await pool.end();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it(`${FLOOD.toLocaleString('en-US')} undecodable records all reach the DLQ and the good records after them land`, async () => {
    await ensureTopics(kafka, config, [topic]);
    const symbol = randomSymbol();
    // Not the Confluent wire format (magic byte 0x7f): undecodable, about 190 bytes each, one key so one partition.
    const junk = (i: number) => Buffer.concat([Buffer.from([0x7f]), Buffer.from(`junk ${i} `.padEnd(189, 'x'))]);
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    await publisher.sendRaw(topic.name, Array.from({ length: FLOOD }, (_, i) => ({ key: symbol, value: junk(i), headers: { source: 'test' } })));
    await publisher.send(topic, Array.from({ length: GOOD }, (_, i) => bar(symbol, i, 100 + i)), { source: 'test' });
    await publisher.disconnect();

    sinks = await startSinks({ config, logger, names: ['postgres'], topics: { prices: topic } });
    const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count);
    await waitFor(async () => (await rows()) === GOOD, { what: `the ${GOOD} good bars behind the flood`, timeoutMs: 120_000 });

    // A batch's good records are written before its dead letters are published: the last ones may still be on their way.
    const dead = await readTopic(kafka, topic.dlq, { timeoutMs: 120_000, until: (m) => m.length >= FLOOD });
    expect(dead).toHaveLength(FLOOD);
    // Exactly the junk records, each once: the flood is the partition's offsets 0 to FLOOD-1 (a new topic, sent in order).
    const origin = dead.map((m) => headersToStrings(m.headers));
    expect(new Set(origin.map((h) => h[DlqHeaders.originalTopic]))).toEqual(new Set([topic.name]));
    expect(new Set(origin.map((h) => h[DlqHeaders.originalPartition])).size).toBe(1);
    expect(new Set(origin.map((h) => h[DlqHeaders.errorClass]))).toEqual(new Set(['DecodeError']));
    expect(origin.map((h) => Number(h[DlqHeaders.originalOffset])).sort((a, b) => a - b)).toEqual(Array.from({ length: FLOOD }, (_, i) => i));
    const wrong = dead.filter((m, i) => m.key?.toString() !== symbol || !m.value?.equals(junk(Number(origin[i]![DlqHeaders.originalOffset]))));
    expect(wrong).toEqual([]);
    const first = dead.find((m) => m.value?.toString().startsWith('\x7fjunk 0 '));
    expect(first?.headers[DlqHeaders.errorClass]?.toString()).toBe('DecodeError');
    expect(first?.value?.length).toBe(190);
  });

  it('a dead letter too large for the DLQ topic keeps its headers, the size and the SHA-256 of its value', async () => {
    const small = withName(priceUpdates, randomName('test-flood-big'));
    const big = Buffer.concat([Buffer.from([0x7f]), Buffer.alloc(200_000, 'y')]);
    await ensureTopics(kafka, config, [small]);
    const admin = kafka.admin();
    await admin.connect();
    // A DLQ that accepts at most 100 kB per record batch.
    await admin.alterConfigs({ validateOnly: false,
      resources: [{ type: 2, name: small.dlq, configEntries: [{ name: 'max.message.bytes', value: '100000' }] }] });
    await admin.disconnect();
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    try {
      await publisher.deadLetter(small, [{ key: 'BIG', value: big, headers: { source: 'test' }, error: new Error('too big to keep') }]);
    } finally {
      await publisher.disconnect();
    }
    const [m] = await readTopic(kafka, small.dlq);
    expect(m?.value).toBeNull();
    expect(m?.key?.toString()).toBe('BIG');
    expect(m?.headers[DlqHeaders.originalValueBytes]?.toString()).toBe(String(big.length));
    expect(m?.headers[DlqHeaders.originalValueSha256]?.toString()).toBe(createHash('sha256').update(big).digest('hex'));
    expect(m?.headers[DlqHeaders.errorMessage]?.toString()).toBe('too big to keep');
    expect(m?.headers.source?.toString()).toBe('test');
    await deleteTestTopics(kafka, [small.name, small.dlq]);
  });

  it('a dead letter whose headers and key alone are too large drops them too (keeping their sizes and the key\'s hash): it is published, not retried forever',
    async () => {
      const small = withName(priceUpdates, randomName('test-flood-bigkey'));
      await ensureTopics(kafka, config, [small]);
      const key = 'K'.repeat(150_000);
      const huge = 'h'.repeat(150_000);
      const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
      await publisher.connect();
      try {
        // A first dead letter while the DLQ takes Kafka's default size: the publisher reads (and keeps) that limit. The
        // limit is then lowered under it, as an operator would (or as a broker applies a change late): the oversized
        // record is refused once, the limit read again, and the record fitted to it.
        await publisher.deadLetter(small, [{ key: 'first', value: Buffer.from('\x7f'), error: new Error('first') }]);
        const admin = kafka.admin();
        await admin.connect();
        await admin.alterConfigs({ validateOnly: false,
          resources: [{ type: 2, name: small.dlq, configEntries: [{ name: 'max.message.bytes', value: '100000' }] }] });
        await admin.disconnect();
        await publisher.deadLetter(small, [{ key, value: Buffer.from('\x7fbad'), headers: { source: 'test', note: huge }, error: new Error('bad record') }]);
      } finally {
        await publisher.disconnect();
      }
      const m = (await readTopic(kafka, small.dlq, { until: (r) => r.length >= 2 })).find((x) => x.key === null);
      expect(m?.key).toBeNull();
      expect(m?.value).toBeNull();
      expect(m?.headers[DlqHeaders.originalKeyBytes]?.toString()).toBe(String(key.length));
      expect(m?.headers[DlqHeaders.originalKeySha256]?.toString()).toBe(createHash('sha256').update(key).digest('hex'));
      expect(Number(m?.headers[DlqHeaders.originalHeadersBytes]?.toString())).toBeGreaterThan(huge.length);
      expect(m?.headers.note).toBeUndefined();
      expect(m?.headers[DlqHeaders.errorMessage]?.toString()).toBe('bad record');
      await deleteTestTopics(kafka, [small.name, small.dlq]);
    });
});
