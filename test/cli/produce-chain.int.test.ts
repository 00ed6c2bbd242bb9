// `produce prices` with PRICE_SOURCE=alphavantage,twelvedata, as configured from the environment (base URLs, keys,
// limits) against local servers speaking both protocols: Alpha Vantage answers the first poll and, its one request a
// minute spent (ALPHAVANTAGE_REQUESTS_PER_MINUTE=1), Twelve Data the next; the switch is logged once; every record
// names its provider in its value and its source header; neither API key appears anywhere in the output, at debug.
import { afterAll, describe, expect, it } from 'vitest';
import { createSerde } from '../../lib/serde.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { FAKE_KEYS, peakInWindow, startFakeMarket, type FakeMarket } from '../helpers/fake-markets.ts';
import { deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka } from '../helpers/index.ts';
import { startCli } from './cli-process.ts';

describe('produce prices with a source chain from the configuration', () => {
  const topic = withName(priceUpdates, randomName('test-produce-chain'));
  const kafka = testKafka();
  let market: FakeMarket | undefined;
  afterAll(async () => {
    await market?.close();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('alphavantage answers, then twelvedata once its minute is spent; one switch logged; no key in the output', async () => {
    const symbol = randomSymbol();
    market = await startFakeMarket({ symbols: [symbol] });
    const produce = startCli(['produce', 'prices', '--symbols', symbol, '--count', '2', '--interval', '0.5'], {
      PRICE_SOURCE: 'alphavantage,twelvedata', PRICE_UPDATES_TOPIC: topic.name, LOG_LEVEL: 'debug', KAFKA_GROUP_PREFIX: randomName('test-produce-chain'),
      ALPHAVANTAGE_BASE_URL: market.alphavantage.url, ALPHAVANTAGE_API_KEY: FAKE_KEYS.alphavantage, ALPHAVANTAGE_REQUESTS_PER_MINUTE: '1',
      TWELVEDATA_BASE_URL: market.twelvedata.url, TWELVEDATA_API_KEY: FAKE_KEYS.twelvedata,
    });
    expect(await produce.closed, produce.output().slice(-3000)).toEqual({ code: 0, signal: null });
    const output = produce.output();
    for (const key of Object.values(FAKE_KEYS)) expect(output).not.toContain(key);

    const logs = produce.logs();
    expect(logs.filter((l) => l.msg === 'price source: alphavantage answers')).toHaveLength(1);
    expect(logs.filter((l) => String(l.msg).startsWith('price source switched'))).toMatchObject([
      { msg: 'price source switched: twelvedata answers instead of alphavantage', from: 'alphavantage', to: 'twelvedata',
        reason: expect.stringMatching(/^alphavantage: rate limit reached; next call at /) },
    ]);
    expect(market.alphavantage.calls).toHaveLength(1);
    expect(market.twelvedata.calls).toHaveLength(1);
    expect(peakInWindow(market.alphavantage.calls, 60_000)).toBe(1);

    // Alpha Vantage's bars of the look-back; Twelve Data's answer adds only a bar that completed in between, if any.
    const records = await readTopic(kafka, topic.name);
    const serde = createSerde(testConfig());
    const values = await Promise.all(records.map(async (r) => ({ header: r.headers.source?.toString(), ...(await serde.decode(topic, r.value!)).value })));
    expect(values.length).toBeGreaterThanOrEqual(14);
    expect(values.slice(0, 14).every((v) => v.source === 'alphavantage')).toBe(true);
    for (const v of values) expect(v.header).toBe(v.source);
    expect(new Set(values.map((v) => v.eventTime)).size).toBe(values.length); // no bar twice
  });
});
