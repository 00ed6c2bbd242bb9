// The events producer against the real Kafka and Schema Registry, on isolated topics, with a feed that repeats its
// latest items (as a news feed does): an event refused for bad data is dead-lettered once, not on every poll; an
// article whose symbols grew since its first publish is published again (same id, the union of its symbols), and an
// identical repeat is still dropped.
import { describe, expect, it } from 'vitest';
import { headersToStrings } from '../../lib/record-headers.ts';
import { createEventsProducer } from '../../producers/events-producer.ts';
import type { EventSource } from '../../producers/events/types.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { marketEvents } from '../../topics/index.ts';
import { consumeMessages, randomName } from '../helpers/index.ts';
import { producerTestbed } from './isolated-topics.ts';

const bed = producerTestbed(marketEvents, { prefix: 'test-events-again', name: 'events-republish' });
const { config, kafka, logger, topics } = bed;
const NOW = Date.UTC(2026, 9, 2, 14, 16, 5);

function event(over: Partial<MarketEvent>): MarketEvent {
  return {
    id: randomName('ev'), symbols: ['AAPL'], headline: 'Apple raises its dividend', summary: null, source: 'Wire',
    url: 'https://example.com/a', publishedAt: NOW - 60_000, category: null, ingestTime: NOW, ...over,
  };
}

/** A feed that returns `items()` on every fetch, each with this fetch's ingest time. */
function repeatingFeed(items: () => MarketEvent[]): EventSource {
  return { name: 'file', fetch: async (_symbols, now) => items().map((e) => ({ ...e, ingestTime: now })) };
}

describe('events producer: what a repeating feed publishes again (real Kafka and registry)', () => {
  it('dead-letters an event refused for bad data once, however often the feed repeats it', async () => {
    const topic = await topics.create();
    const bad = event({ headline: '   ' });
    const good = event({});
    const producer = createEventsProducer({
      config, logger, publisher: bed.publisher(), topic, source: repeatingFeed(() => [bad, good]), symbols: ['AAPL'], intervalMs: 300_000,
    });
    expect(await producer.publishOnce(NOW)).toEqual({ fetched: 2, duplicates: 0, published: 1, invalid: 1, rejected: 0 });
    expect(await producer.publishOnce(NOW + 300_000)).toEqual({ fetched: 2, duplicates: 2, published: 0, invalid: 0, rejected: 0 });
    expect(await producer.publishOnce(NOW + 600_000)).toEqual({ fetched: 2, duplicates: 2, published: 0, invalid: 0, rejected: 0 });
    const dead = await consumeMessages(kafka, topic.dlq, 1);
    expect(headersToStrings(dead[0]!.headers)['error-message']).toBe('headline is empty');
    expect(await dlqCount(topic.dlq)).toBe(1); // once, not once a poll
    expect(await topics.count(topic)).toBe(1);
  });

  it('publishes an article again when symbols were added (same id, union of symbols); an identical repeat is dropped', async () => {
    const topic = await topics.create();
    const first = event({ symbols: ['AAPL'] });
    let items = [first];
    const producer = createEventsProducer({
      config, logger, publisher: bed.publisher(), topic, source: repeatingFeed(() => items), symbols: ['AAPL'], intervalMs: 300_000,
    });
    expect(await producer.publishOnce(NOW)).toMatchObject({ published: 1, duplicates: 0 });
    items = [{ ...first, symbols: ['AAPL', 'MSFT'] }];
    expect(await producer.publishOnce(NOW + 300_000)).toMatchObject({ published: 1, duplicates: 0 });
    expect(await producer.publishOnce(NOW + 600_000)).toMatchObject({ published: 0, duplicates: 1 }); // identical: dropped
    items = [{ ...first, symbols: ['MSFT'] }]; // found under one symbol only this time: nothing new
    expect(await producer.publishOnce(NOW + 900_000)).toMatchObject({ published: 0, duplicates: 1 });
    expect(await topics.count(topic)).toBe(2);
    const got = await topics.decodeAll(topic, 2);
    expect(got.map((g) => [g.key, g.value.symbols])).toEqual([[first.id, ['AAPL']], [first.id, ['AAPL', 'MSFT']]]);
  });

  it('publishes an article found twice in one fetch with different symbols once, with the union of its symbols', async () => {
    const topic = await topics.create();
    const e = event({ symbols: ['AAPL'] });
    const producer = createEventsProducer({
      config, logger, publisher: bed.publisher(), topic, source: repeatingFeed(() => [e, { ...e, symbols: ['MSFT', 'AAPL'] }, e]),
      symbols: ['AAPL'], intervalMs: 300_000,
    });
    expect(await producer.publishOnce(NOW)).toEqual({ fetched: 3, duplicates: 2, published: 1, invalid: 0, rejected: 0 });
    const got = await topics.decodeAll(topic, 1);
    expect(got.map((g) => [g.key, g.value.symbols])).toEqual([[e.id, ['AAPL', 'MSFT']]]);
    expect(await producer.publishOnce(NOW + 300_000)).toMatchObject({ published: 0, duplicates: 3 });
  });
});

async function dlqCount(name: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(name)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}
