// The price producer against the real Kafka and Schema Registry, on an isolated topic: valid bars arrive decoded,
// keyed by symbol, with the standard headers; invalid bars and unparseable lines land in the DLQ with the reason;
// stop() finishes the tick in flight, so everything fetched was published.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headersToStrings } from '../../lib/record-headers.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createFileSource } from '../../producers/sources/file.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import type { PriceFeed } from '../../producers/sources/types.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceUpdates } from '../../topics/index.ts';
import { consumeMessages, waitFor } from '../helpers/index.ts';
import { producerTestbed } from './isolated-topics.ts';

const bed = producerTestbed(priceUpdates, { prefix: 'test-prices', name: 'price-producer' });
const { config, kafka, logger, dir, topics } = bed;

describe('price producer (real Kafka and registry)', () => {
  it('publishes validated synthetic bars keyed by symbol, decodable, with source, produced-at and one correlation id per tick', async () => {
    const topic = await topics.create();
    const now = Date.parse('2026-01-12T15:10:30Z'); // 10:10:30 New York, a Monday: the 10:09 bar has ended
    const producer = createPriceProducer({
      config, logger, publisher: bed.publisher(), topic, source: createSyntheticSource({ seed: 7, interval: '1m' }), symbols: ['AAPL', 'MSFT', 'NVDA'],
      intervalMs: 60_000,
    });
    expect(await producer.publishOnce(now)).toEqual({ fetched: 3, published: 3, invalid: 0, rejected: 0 });

    const got = await topics.decodeAll(topic, 3);
    const expected = createSyntheticSource({ seed: 7 }).bars(['AAPL', 'MSFT', 'NVDA'],
      { from: Math.floor(now / 60_000) * 60_000 - 60_000, to: Math.floor(now / 60_000) * 60_000, interval: '1m' }, { ingestTime: now });
    expect(got.map((g) => g.value).sort((a, b) => a.symbol.localeCompare(b.symbol))).toEqual(expected);
    expect(got.every((g) => g.key === g.value.symbol)).toBe(true);
    for (const g of got) {
      expect(g.headers.source).toBe('synthetic');
      expect(Date.parse(g.headers['produced-at'] as string)).toBeGreaterThanOrEqual(now - 1000);
    }
    expect(new Set(got.map((g) => g.headers['correlation-id'])).size).toBe(1);
  });

  it('dead-letters an invalid bar and an unparseable line with the reason, and publishes the valid ones', async () => {
    const topic = await topics.create();
    const path = join(dir, 'bars.csv');
    writeFileSync(path, [
      'symbol,interval,ts,open,high,low,close,volume',
      'AAPL,1d,2026-01-05T00:00:00Z,250,252,248,251,1000000',
      'TSLA,1d,2026-01-05T00:00:00Z,400,398,405,401,2000000', // high below low
      'MSFT,1d,2026-01-05T00:00:00Z,420,oops,415,421,300',
      'MSFT,1d,2026-01-06T00:00:00Z,421,425,419,424,3100000',
    ].join('\n'));
    const producer = createPriceProducer({ config, logger, publisher: bed.publisher(), topic, source: createFileSource({ path }), symbols: [], intervalMs: 0 });
    expect(await producer.publishOnce()).toEqual({ fetched: 3, published: 2, invalid: 1, rejected: 1 });

    const good = await topics.decodeAll(topic, 2);
    const goodRows = good.map((g) => [g.key, g.value.symbol, g.value.close, g.value.source]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(goodRows).toEqual([['AAPL', 'AAPL', 251, 'file'], ['MSFT', 'MSFT', 424, 'file']]);

    const dead = await consumeMessages(kafka, topic.dlq, 2);
    const byKey = new Map(dead.map((m) => [m.key?.toString() ?? null,
      { headers: headersToStrings(m.headers), value: JSON.parse((m.value as Buffer).toString('utf8')) as Record<string, unknown> }]));
    const tsla = byKey.get('TSLA');
    expect(tsla?.headers['error-class']).toBe('ValidationError');
    expect(tsla?.headers['error-message']).toBe('high 398 is below max(open 400, close 401)');
    expect(tsla?.headers['original-topic']).toBe(topic.name);
    expect(tsla?.headers.source).toBe('file');
    expect(tsla?.value).toMatchObject({ symbol: 'TSLA', high: 398, low: 405, source: 'file' });
    const line = byKey.get('MSFT');
    expect(line?.headers['error-message']).toBe('line 4: high "oops" is not a number');
    expect(line?.value).toMatchObject({ line: 4, text: 'MSFT,1d,2026-01-05T00:00:00Z,420,oops,415,421,300' });
  });

  it('runs ticks until stopped and finishes the tick in flight: everything fetched is on the topic', async () => {
    const topic = await topics.create();
    // What the source handed over, seen from outside the producer.
    const synthetic = createSyntheticSource({ seed: 1, interval: 'tick', calendar: '24x7' }); // ticks at any hour the test runs
    const fetchedBars: PriceUpdate[] = [];
    const source: PriceFeed = {
      ...synthetic,
      fetch: async (symbols, now) => { const bars = await synthetic.fetch(symbols, now); fetchedBars.push(...bars); return bars; },
    };
    const producer = createPriceProducer({ config, logger, publisher: bed.publisher(), topic, source, symbols: ['AAPL', 'GOOGL'], intervalMs: 1000 });
    const running = producer.start();
    await waitFor(() => producer.ticks >= 2, { timeoutMs: 30_000, what: 'two ticks' });
    await producer.stop();
    await running;
    const { fetched, published, invalid } = producer.totals;
    expect(invalid).toBe(0);
    expect(published).toBe(fetched);
    expect(published).toBeGreaterThanOrEqual(4);
    const got = await topics.decodeAll(topic, published);
    expect(got).toHaveLength(published);
    expect(got.every((g) => g.value.interval === 'tick' && g.value.open === g.value.close)).toBe(true);
    // What reached Kafka is exactly what the source gave: every bar, once.
    const order = (xs: PriceUpdate[]) => [...xs].sort((a, b) => a.symbol.localeCompare(b.symbol) || a.eventTime - b.eventTime || a.close - b.close);
    expect(fetchedBars.length).toBeGreaterThanOrEqual(4);
    expect(await topics.count(topic)).toBe(fetchedBars.length);
    expect(order(got.map((g) => g.value))).toEqual(order(fetchedBars));
  });
});
