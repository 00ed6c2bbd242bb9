// The Yahoo price source moves its "last bar seen" only after Kafka acknowledged the send: a tick whose send fails
// (caused for real: the Schema Registry cut off through a TCP proxy while the publisher's serde registers the schema)
// publishes nothing, and the next tick publishes exactly the same bars — none lost, none doubled. Yahoo answers from
// recorded responses fed through yahoo-finance2's own fetch hook.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createYahooSource } from '../../producers/sources/yahoo.ts';
import { priceUpdates } from '../../topics/index.ts';
import { fakeYahooFetch, yahooFixture } from '../helpers/fake-yahoo.ts';
import { readTopic, testConfig, testKafka, testLogger } from '../helpers/index.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { isolatedTopics } from './isolated-topics.ts';

const NOW = Date.UTC(2026, 9, 2, 14, 16, 5); // 5 s after the last recorded trade of chart-AAPL-1m.json

describe('yahoo price source cursor', () => {
  const config = testConfig();
  const kafka = testKafka(config);
  const logger = testLogger('yahoo-cursor-test');
  const topics = isolatedTopics({ kafka, config, serde: createSerde(config), def: priceUpdates, prefix: 'test-yahoo-cursor' });
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    await topics.deleteAll();
  });

  it('a send that fails once: the next tick republishes the same bars, and nothing is published twice', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {}); // yahoo-finance2 prints failed requests
    const topic = await topics.create();
    const registry = new URL(config.SCHEMA_REGISTRY_URL);
    const proxy = await startTcpProxy({ host: registry.hostname, port: Number(registry.port) });
    cleanup.push(() => proxy.close());
    registry.port = String(proxy.port);
    const viaProxy = testConfig({ SCHEMA_REGISTRY_URL: registry.origin });
    const publisher = createPublisher({ kafka, serde: createSerde(viaProxy), logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    const { fetch } = fakeYahooFetch((url) => (url.includes('/v8/finance/chart/AAPL') ? yahooFixture('chart-AAPL-1m.json') : undefined));
    const source = createYahooSource({ mode: 'bars', barInterval: '1m', lookbackMinutes: 20,
      resilience: { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000 } }, { logger, fetch, clock: () => NOW });
    cleanup.push(async () => source.close?.());
    const producer = createPriceProducer({ config, logger, publisher, topic, source, symbols: ['AAPL'], intervalMs: 60_000 });

    proxy.cut();
    await expect(producer.publishOnce(NOW)).rejects.toThrow(/registry/i);
    proxy.restore();
    const second = await producer.publishOnce(NOW + 30_000);
    expect(second.published).toBe(15); // the bars of the failed tick, offered again
    expect(await producer.publishOnce(NOW + 45_000)).toMatchObject({ fetched: 0, published: 0 }); // acknowledged: not again

    const records = await readTopic(kafka, topic.name);
    expect(records).toHaveLength(15);
    const serde = createSerde(config);
    const times = await Promise.all(records.map(async (m) => (await serde.decode(topic, m.value!)).value.eventTime));
    const t0 = Date.UTC(2026, 9, 2, 14, 0);
    expect(times.map((t) => (t - t0) / 60_000).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]);
  });

  // Issue #22 item 5: Yahoo's day high lags the last trade (price 335.10, regularMarketDayHigh 334.54). A tick's
  // open/high/low are the session's to date, so its price widens them; dead-lettering it would lose it for good, as
  // acknowledge() moves the cursor past it and the next poll with the same regularMarketTime returns nothing.
  it('a quote whose price is above the reported day high is published as a tick with the high widened, not dead-lettered', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const topic = await topics.create();
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    const recorded = yahooFixture('quote-AAPL-MSFT.json');
    const body = recorded.response.bodyJson as { quoteResponse: { result: Array<Record<string, unknown>> } };
    const aapl = body.quoteResponse.result.find((q) => q.symbol === 'AAPL') as Record<string, unknown>;
    expect(aapl.regularMarketDayHigh).toBe(334.54);
    aapl.regularMarketPrice = 335.1;
    body.quoteResponse.result = [aapl];
    const { fetch } = fakeYahooFetch((url) => (url.includes('/v7/finance/quote') ? recorded : undefined));
    const resilience = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000 };
    const source = createYahooSource({ mode: 'quote', resilience }, { logger, fetch, clock: () => NOW });
    cleanup.push(async () => source.close?.());
    const producer = createPriceProducer({ config, logger, publisher, topic, source, symbols: ['AAPL'], intervalMs: 60_000 });

    expect(await producer.publishOnce(NOW)).toMatchObject({ fetched: 1, published: 1, invalid: 0 });
    const [record] = await topics.decodeAll(topic, 1);
    expect(record?.value).toMatchObject({ symbol: 'AAPL', interval: 'tick', open: 331.2, high: 335.1, low: 330.61, close: 335.1, volume: 9034471 });
    expect(await topics.count({ ...topic, name: topic.dlq })).toBe(0);
  });
});
