// The events producer against the real Kafka and Schema Registry, on isolated topics: Yahoo news (recorded responses)
// arrive decoded and keyed by event id, an article found under two symbols once; a second fetch of the same news
// publishes nothing; the file source publishes every valid line until the file ends and dead-letters the bad ones.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { headersToStrings } from '../../lib/record-headers.ts';
import { createEventsProducer } from '../../producers/events-producer.ts';
import { createEventFileSource, SAMPLE_EVENTS_FILE } from '../../producers/events/file.ts';
import { createYahooNewsSource } from '../../producers/events/yahoo-news.ts';
import { marketEvents } from '../../topics/index.ts';
import { consumeMessages } from '../helpers/index.ts';
import { fakeYahooNews } from './events/fake-yahoo-news.ts';
import { producerTestbed } from './isolated-topics.ts';

// yahoo-finance2 prints the URL of a failed request.
const bed = producerTestbed(marketEvents, {
  prefix: 'test-events', name: 'events-producer', beforeConnect: () => { vi.spyOn(console, 'error').mockImplementation(() => {}); },
});
const { config, kafka, logger, dir, topics } = bed;

describe('events producer (real Kafka and registry)', () => {
  it('publishes Yahoo news keyed by event id, each article once, and nothing again on the next fetch of the same news', async () => {
    const topic = await topics.create();
    const fake = fakeYahooNews();
    const source = createYahooNewsSource({ resilience: { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000 } }, { logger, fetch: fake.fetch });
    const producer = createEventsProducer({ config, logger, publisher: bed.publisher(), topic, source, symbols: ['AAPL', 'MSFT'], intervalMs: 300_000 });
    const now = Date.UTC(2026, 9, 2, 14, 16, 5);
    try {
      expect(await producer.publishOnce(now)).toEqual({ fetched: 5, duplicates: 0, published: 5, invalid: 0, rejected: 0 });
      expect(await topics.count(topic)).toBe(5); // what reached Kafka: each article once
      expect(await producer.publishOnce(now + 300_000)).toEqual({ fetched: 5, duplicates: 5, published: 0, invalid: 0, rejected: 0 });
      expect(await topics.count(topic)).toBe(5); // nothing again
    } finally {
      await source.close();
    }

    const got = await topics.decodeAll(topic, 5);
    expect(got).toHaveLength(5);
    expect(got.every((g) => g.key === g.value.id && g.headers.source === 'yahoo')).toBe(true);
    expect(new Set(got.map((g) => g.value.id)).size).toBe(5);
    const shared = got.find((g) => g.value.headline === 'Apple and Microsoft lead megacap gains as tech rally broadens');
    expect(shared?.value).toMatchObject({ symbols: ['AAPL', 'MSFT', '^GSPC'], source: 'Reuters', category: 'STORY', summary: null, ingestTime: now });
  });

  it('replays a file until it ends: every valid event published, an invalid one and an unparseable line dead-lettered with the reason', async () => {
    const topic = await topics.create();
    const sample = readFileSync(SAMPLE_EVENTS_FILE, 'utf8').trim().split('\n');
    const path = join(dir, 'events.jsonl');
    writeFileSync(path, [
      ...sample.slice(0, 3),
      sample[0], // the same article twice: published once
      '{"symbols":["AAPL"],"headline":"Apple event from the future","source":"Wire","url":"https://example.com/f","publishedAt":"2099-01-01T00:00:00Z"}',
      '{"symbols":["AAPL"],"headline":"broken',
    ].join('\n'));
    const producer = createEventsProducer({
      config, logger, publisher: bed.publisher(), topic, source: createEventFileSource({ path, batchSize: 2 }), symbols: [], intervalMs: 0,
    });
    await producer.start(); // ends with the file
    expect(producer.totals).toEqual({ fetched: 5, duplicates: 1, published: 3, invalid: 1, rejected: 1 });

    const good = await topics.decodeAll(topic, 3);
    expect(good.map((g) => g.value.headline).sort()).toEqual(sample.slice(0, 3).map((l) => (JSON.parse(l) as { headline: string }).headline).sort());
    expect(good.every((g) => g.key === g.value.id && g.headers.source === 'file')).toBe(true);

    const dead = await consumeMessages(kafka, topic.dlq, 2);
    const reasons = dead.map((m) => headersToStrings(m.headers)['error-message']).sort();
    expect(reasons).toEqual([expect.stringMatching(/^line 6: not JSON: /), 'publishedAt 2099-01-01T00:00:00.000Z is in the future']);
    expect(dead.every((m) => headersToStrings(m.headers)['error-class'] === 'ValidationError')).toBe(true);
  });
});
