// The publisher against the real Kafka and registry: typed records arrive keyed, decodable and with the standard
// headers; tombstones carry a null value; dead letters keep the original bytes, key and headers plus the reason.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { DecodeError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { readTopic, testKafka, type ConsumedMessage } from '../helpers/index.ts';

const config = { ...loadConfig(), TOPIC_PARTITIONS: 3 };
const kafka = testKafka(config, 'publisher-test');
const serde = createSerde(config);
const suffix = randomUUID().slice(0, 8);
const prices = withName(priceUpdates, `test-pub-prices-${suffix}`);
const graph = withName(graphMutations, `test-pub-graph-${suffix}`);
const events = withName(marketEvents, `test-pub-events-${suffix}`);
let publisher: Publisher;

const bar = (symbol: string, i: number): PriceUpdate => ({
  symbol, interval: '1m', eventTime: 1_767_625_200_000 + i * 60_000, open: 10, high: 11, low: 9, close: 10 + i / 100, volume: 100 + i,
  source: 'synthetic', ingestTime: 1_767_625_260_000 + i * 60_000, quality: 1,
});

/** Everything the topic holds (its records are all in once a send resolved), read on until there are at least `count`. */
function readAll(topic: string, count: number): Promise<ConsumedMessage[]> {
  return readTopic(kafka, topic, { until: (got) => got.length >= count, what: `${count} messages on ${topic}`, timeoutMs: 60_000 });
}

beforeAll(async () => {
  await ensureTopics(kafka, config, [prices, graph, events]);
  publisher = createPublisher({ kafka, serde, logger: createLogger({ level: 'warn', format: 'json' }), chunkSize: 500 });
  await publisher.connect();
});
afterAll(async () => {
  await publisher?.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [prices.name, prices.dlq, graph.name, graph.dlq, events.name, events.dlq] }).catch(() => {});
  await admin.disconnect();
});

describe('publisher (real Kafka and registry)', () => {
  it('sends typed records keyed by topic.key with the standard headers, in order per key across chunks', async () => {
    const values = Array.from({ length: 1200 }, (_, i) => bar(['AAPL', 'MSFT', 'NVDA'][i % 3]!, i));
    await publisher.send(prices, values, { source: 'synthetic', correlationId: 'run-42' });
    const got = await readAll(prices.name, values.length);
    expect(got).toHaveLength(values.length);
    const bySymbol = new Map<string, number[]>();
    for (const m of got) {
      const { value } = await serde.decode(prices, m.value!);
      expect(m.key!.toString()).toBe(value.symbol);
      const h = headersToStrings(m.headers);
      expect(h).toMatchObject({ source: 'synthetic', 'correlation-id': 'run-42' });
      expect(Number.isNaN(Date.parse(h['produced-at']!))).toBe(false);
      bySymbol.set(value.symbol, [...(bySymbol.get(value.symbol) ?? []), value.eventTime]);
    }
    for (const times of bySymbol.values()) expect(times).toEqual([...times].sort((a, b) => a - b));
    const first = await serde.decode(prices, got.find((m) => m.key!.toString() === 'AAPL')!.value!);
    expect(first.value).toEqual({ ...values[0], vwap: null, trades: null, final: null, adjusted: null }); // later versions' fields, absent: their defaults
  });

  it('keys graph mutations by entity and sends tombstones with a null value', async () => {
    const m: GraphMutation = {
      mutationTime: 1, origin: 'profile', op: { UpsertNode: { label: 'Company', key: 'AAPL', properties: { name: 'Apple Inc.', employees: 164_000n } } },
    };
    await publisher.send(graph, [m], { source: 'profile' });
    await publisher.sendTombstone(graph, 'COMPETES_WITH:AAPL:MSFT', { source: 'competitors' });
    const got = await readAll(graph.name, 2);
    const upsert = got.find((x) => x.value !== null)!;
    expect(upsert.key!.toString()).toBe('Company:AAPL');
    expect((await serde.decode(graph, upsert.value!)).value).toEqual({ ...m, enrichment: null });
    const tomb = got.find((x) => x.value === null)!;
    expect(tomb.key!.toString()).toBe('COMPETES_WITH:AAPL:MSFT');
    expect(headersToStrings(tomb.headers).source).toBe('competitors');
  });

  it('large records of one key are split into sends under the broker limit', async () => {
    // 30 records of 100 kB under one key: 3 MB for one partition, three times the broker's default batch limit
    const big = (i: number): MarketEvent => ({
      id: 'same-article', symbols: ['AAPL'], headline: `h${i}`, summary: 'x'.repeat(100_000), source: 'Reuters', url: null, publishedAt: i,
      category: null, ingestTime: i,
    });
    const bigPublisher = createPublisher({ kafka, serde, logger: createLogger({ level: 'warn', format: 'json' }) });
    await bigPublisher.connect();
    try {
      await bigPublisher.send(events, Array.from({ length: 30 }, (_, i) => big(i)), { source: 'file' });
    } finally {
      await bigPublisher.disconnect();
    }
    const got = await readAll(events.name, 30);
    const decoded = await Promise.all(got.map(async (m) => (await serde.decode(events, m.value!)).value.publishedAt));
    expect(decoded).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('a value that does not fit the schema throws before anything is sent', async () => {
    const bad = { ...bar('BAD', 0), close: 'not a number' } as unknown as PriceUpdate;
    await expect(publisher.send(prices, [bar('OKAY', 1), bad], { source: 'synthetic' })).rejects.toThrow(/close/);
  });

  it('dead-letters the original bytes, key and headers with the reason and origin', async () => {
    const original = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);
    await publisher.deadLetter(prices, [
      {
        key: 'AAPL', value: original, headers: { source: 'yahoo', 'correlation-id': 'c-7', 'produced-at': '2026-01-05T14:00:00.000Z' },
        error: new DecodeError('unknown magic byte 222'), origin: { topic: prices.name, partition: 2, offset: '17', group: 'marketstream-postgres-sink' },
      },
      { key: null, value: null, error: new Error('tombstone not meaningful') },
    ]);
    const got = await readAll(prices.dlq, 2);
    const first = got.find((m) => m.key?.toString() === 'AAPL')!;
    expect(Buffer.compare(first.value!, original)).toBe(0);
    expect(headersToStrings(first.headers)).toMatchObject({
      source: 'yahoo', 'correlation-id': 'c-7', 'produced-at': '2026-01-05T14:00:00.000Z',
      'error-class': 'DecodeError', 'error-message': 'unknown magic byte 222',
      'original-topic': prices.name, 'original-partition': '2', 'original-offset': '17', 'consumer-group': 'marketstream-postgres-sink',
    });
    expect(Number.isNaN(Date.parse(headersToStrings(first.headers)['failed-at']!))).toBe(false);
    const second = got.find((m) => m.key === null)!;
    expect(second.value).toBeNull();
    expect(headersToStrings(second.headers)).toMatchObject({ 'error-class': 'Error', 'original-topic': prices.name });
  });
});
