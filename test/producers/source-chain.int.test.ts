// The price source chain yahoo → alphavantage → twelvedata against the real stack (Kafka, Schema Registry, the real
// postgres-sink in this process on isolated topics) and local servers speaking the three providers' protocols
// (test/helpers/fake-markets.ts). Yahoo answers 429: Alpha Vantage takes over in the same poll; Yahoo's breaker open, it
// is not asked; Yahoo refuses connections: its trial call after the reset timeout fails and Alpha Vantage keeps
// answering until its free tier's 5 requests a minute are spent (one symbol of a poll already goes to Twelve Data), then
// Twelve Data answers; Yahoo back: its trial call succeeds, the breaker closes and Yahoo takes back. PostgreSQL ends with
// every bar of the run once (none lost, none doubled), each row naming the provider whose bar it holds; Kafka holds each
// bar once; no provider saw more calls than its limit allows; each switch was logged once, counted in
// marketstream_source_switches_total and shown by /health and doctor.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { SinkTopics } from '../../consumers/types.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { checkPriceSources } from '../../ops/doctor/sources.ts';
import { createPriceProducer, type PriceProducer } from '../../producers/price-producer.ts';
import { createAlphaVantageSource } from '../../producers/sources/alphavantage.ts';
import { createSourceChain, type SourceChain, type SourceChainStatus } from '../../producers/sources/chain.ts';
import { instrumentPriceFeed } from '../../producers/sources/index.ts';
import { createTwelveDataSource } from '../../producers/sources/twelvedata.ts';
import { createYahooSource } from '../../producers/sources/yahoo.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceFeatures, priceUpdates, withName } from '../../topics/index.ts';
import { FAKE_KEYS, marketBar, peakInWindow, sessionTime, startFakeMarket, type FakeMarket, type Provider } from '../helpers/fake-markets.ts';
import { scrape, sample } from '../helpers/metrics.ts';
import { deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, waitFor } from '../helpers/index.ts';

const MINUTE = 60_000;
const config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-chain'), TOPIC_PARTITIONS: '2' });
const lines: string[] = [];
const logger = createLogger({ level: 'info', format: 'json', name: 'source-chain-test',
  destination: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) });
const kafka = createKafka(config, logger, 'source-chain-test');
const symbols = [randomSymbol(), randomSymbol()].sort();
const [A, B] = symbols as [string, string];
const topics: SinkTopics = {
  prices: withName(priceUpdates, randomName('test-chain-prices')),
  events: withName(marketEvents, randomName('test-chain-events')),
  features: withName(priceFeatures, randomName('test-chain-features')),
};
const chainNames = ['yahoo', 'alphavantage', 'twelvedata'];

describe('price source chain: yahoo → alphavantage → twelvedata, into PostgreSQL', () => {
  let market: FakeMarket;
  let obs: Observability;
  let sinks: RunningSinks;
  let publisher: Publisher;
  let chain: SourceChain;
  let producer: PriceProducer;
  const pool = createPgPool(config, { max: 2 });

  beforeAll(async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {}); // yahoo-finance2 prints the URL of a failed request
    market = await startFakeMarket({ symbols });
    await ensureTopics(kafka, config, Object.values(topics));
    sinks = await startSinks({ config, logger, names: ['postgres'], topics });
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    obs = await startObservability({ config: { ...config, METRICS_PORT: 0, METRICS_HOST: '127.0.0.1' }, logger, command: 'test produce prices',
      metrics: createMetrics() });
    // Yahoo: retried twice, its circuit opens after 3 failures in a row and lets a trial call through 1.5 s later; one
    // call at a time, so a trial that succeeds closes the circuit before the next symbol's call. Alpha Vantage and
    // Twelve Data keep their free tiers' limits (5 and 8 a minute), which this minute-long test reaches.
    const yahoo = createYahooSource({ resilience: { ratePerSecond: 1000, maxConcurrent: 1, retries: 2, minBackoffMs: 1, maxBackoffMs: 5, failureThreshold: 3,
      resetTimeoutMs: 1500 } }, { logger, fetch: market.yahooFetch, circuit: obs.circuit('yahoo') });
    const fast = { ratePerSecond: 1000, maxConcurrent: 2, retries: 2, minBackoffMs: 1, maxBackoffMs: 5 };
    const av = createAlphaVantageSource({ apiKey: FAKE_KEYS.alphavantage, baseUrl: market.alphavantage.url, resilience: fast },
      { logger, circuit: obs.circuit('alphavantage') });
    const td = createTwelveDataSource({ apiKey: FAKE_KEYS.twelvedata, baseUrl: market.twelvedata.url, resilience: fast },
      { logger, circuit: obs.circuit('twelvedata') });
    chain = createSourceChain([yahoo, av, td].map((s) => instrumentPriceFeed(s, obs.metrics)), { interval: '1m', lookbackMs: 15 * MINUTE },
      { logger, onSwitch: (from, to) => obs.metrics.sourceSwitch(from, to, chainNames) });
    obs.addHealthSection('sources', chain.status);
    obs.started();
    producer = createPriceProducer({ config, logger, publisher: obs.instrumentPublisher(publisher), source: chain, topic: topics.prices!, symbols,
      intervalMs: MINUTE });
  });

  afterAll(async () => {
    await chain?.close?.();
    await sinks?.stop();
    await publisher?.disconnect();
    await obs?.close();
    await market?.close();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => {});
    await pool.end();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  /** One poll at `minute`:05 past 10:00 New York (the bar of `minute` in progress, the one before it just complete). */
  const poll = (minute: number) => { market.now = sessionTime(minute, 5); return producer.publishOnce(market.now); };
  const health = async () => (await (await fetch(`${obs.url}/health`)).json()) as { circuits: Record<string, { state: string }>; sources: SourceChainStatus };
  const halfOpen = () => waitFor(async () => (await health()).circuits.yahoo!.state === 'half-open',
    { what: 'yahoo half-open', timeoutMs: 10_000, intervalMs: 25 });
  const switchLines = () => lines.map((l) => JSON.parse(l) as { msg: string; from?: string; to?: string })
    .filter((l) => l.msg.startsWith('price source switched')).map((l) => `${l.from} → ${l.to}`);

  it('hands over within the poll Yahoo fails, never exceeds a free tier, takes back after the breaker closes; every bar once in PostgreSQL', async () => {
    const source = new Map<number, Record<string, Provider>>(); // the provider each bar (minute) must come from, per symbol
    const expect1 = (minute: number, a: Provider, b: Provider = a) => source.set(minute, { [A]: a, [B]: b });

    // 1. Yahoo answers: the bars of its 15-minute look-back (10:06 … 10:19), nobody else asked.
    expect(await poll(20)).toMatchObject({ fetched: 28, published: 28, invalid: 0 });
    for (let m = 6; m <= 19; m++) expect1(m, 'yahoo');
    expect(market.alphavantage.calls.length + market.twelvedata.calls.length).toBe(0);

    // 2. Yahoo answers 429: retried, its circuit opens, and Alpha Vantage answers in the same poll, only the new bar.
    market.yahoo.fail = 'rate-limited';
    expect(await poll(21)).toMatchObject({ published: 2 });
    expect1(20, 'alphavantage');
    expect(market.yahoo.calls.filter((c) => c.path.startsWith('/v8/')).length).toBeGreaterThanOrEqual(2 + 3); // 2 answered, then 3 refused in a row
    let h = await health();
    expect(h.circuits.yahoo!.state).toBe('open');
    expect(h.sources).toMatchObject({ active: 'alphavantage', switches: 1, lastSwitch: { from: 'yahoo', to: 'alphavantage' } });
    expect(h.sources.lastSwitch!.reason).toMatch(/^yahoo: /);

    // 3. Its circuit open, Yahoo is not asked.
    const yahooCalls = market.yahoo.calls.length;
    expect(await poll(22)).toMatchObject({ published: 2 });
    expect1(21, 'alphavantage');
    expect(market.yahoo.calls.length).toBe(yahooCalls);

    // 4. Yahoo refuses connections: its trial call fails, the circuit opens again. Alpha Vantage has one request of its
    // minute's five left: one symbol from it, the other from Twelve Data.
    await market.yahoo.stop();
    await halfOpen();
    expect(await poll(23)).toMatchObject({ published: 2 });
    expect1(22, 'alphavantage', 'twelvedata');
    h = await health();
    expect(h.circuits.yahoo!.state).toBe('open');
    expect(h.sources.active).toBe('alphavantage');
    expect(Date.parse(h.sources.members.find((m) => m.name === 'yahoo')!.lastError!.at)).toBeGreaterThan(Date.parse(h.sources.lastSwitch!.at));
    expect(h.sources.members.find((m) => m.name === 'alphavantage')).toMatchObject({ available: false,
      rateLimit: { windows: [{ label: 'per minute', limit: 5, used: 5 }, { label: 'per day', limit: 25, used: 5 }] } });

    // 5. Yahoo open, Alpha Vantage's minute spent: Twelve Data answers.
    expect(await poll(24)).toMatchObject({ published: 2 });
    expect1(23, 'twelvedata');
    h = await health();
    expect(h.sources).toMatchObject({ active: 'twelvedata', switches: 2, lastSwitch: { from: 'alphavantage', to: 'twelvedata' } });
    expect(h.sources.lastSwitch!.reason).toMatch(/yahoo: circuit open; alphavantage: rate limit reached; next call at /);

    // 6. Yahoo is back: after the reset timeout its trial call succeeds, the breaker closes, and Yahoo answers again.
    market.yahoo.fail = 'ok';
    await market.yahoo.start();
    await halfOpen();
    expect(await poll(25)).toMatchObject({ published: 2 });
    expect1(24, 'yahoo');
    expect(await poll(26)).toMatchObject({ published: 2 });
    expect1(25, 'yahoo');
    h = await health();
    expect(h.circuits.yahoo!.state).toBe('closed');
    expect(h.sources).toMatchObject({ active: 'yahoo', switches: 3, lastSwitch: { from: 'twelvedata', to: 'yahoo' } });

    // Each switch logged once, counted by from and to; the gauge shows who answers.
    expect(switchLines()).toEqual(['yahoo → alphavantage', 'alphavantage → twelvedata', 'twelvedata → yahoo']);
    const metrics = await scrape(obs.url);
    for (const [from, to] of [['yahoo', 'alphavantage'], ['alphavantage', 'twelvedata'], ['twelvedata', 'yahoo']]) {
      expect(sample(metrics, 'marketstream_source_switches_total', { from: from!, to: to! }), `${from} → ${to}`).toBe(1);
    }
    expect(chainNames.map((s) => sample(metrics, 'marketstream_source_active', { source: s }))).toEqual([1, 0, 0]);
    expect(sample(metrics, 'marketstream_source_fetches_total', { source: 'twelvedata', outcome: 'ok' })).toBe(2);

    // doctor, asked of this process's /health: who answers, the switches, each member.
    const [, , , running] = await checkPriceSources({ ...config, PRICE_SOURCE: ['yahoo', 'alphavantage', 'twelvedata'], ALPHAVANTAGE_API_KEY: 'x',
      TWELVEDATA_API_KEY: 'y' }, { timeoutMs: 3000, healthUrl: `${obs.url}/health` });
    expect(running).toMatchObject({ id: 'sources.live', status: 'ok', data: { active: 'yahoo', switches: 3 } });
    expect(running!.summary).toMatch(/^test produce prices \(pid \d+\): yahoo answers since .*, 3 switches; last twelvedata → yahoo at /);
    expect(running!.summary).toMatch(/alphavantage: circuit closed, not available \(rate limit reached; next call at .*\), rate limit 5\/5 per minute/);

    // No provider saw more calls than its limits allow, and none had to say so.
    expect(peakInWindow(market.alphavantage.calls, MINUTE)).toBeLessThanOrEqual(5);
    expect(market.alphavantage.calls.length).toBeLessThanOrEqual(25);
    expect(peakInWindow(market.twelvedata.calls, MINUTE)).toBeLessThanOrEqual(8);
    expect(market.rateLimitAnswers()).toEqual([]);

    // Kafka holds each bar once, each record's source header naming its provider.
    const records = await readTopic(kafka, topics.prices!.name);
    expect(records).toHaveLength(2 * 20);
    const serde = createSerde(config);
    const decoded = await Promise.all(records.map(async (r) => ({
      header: r.headers.source?.toString(), value: (await serde.decode(topics.prices!, r.value!)).value,
    })));
    for (const d of decoded) expect(d.header).toBe(d.value.source);

    // PostgreSQL: 10:06 … 10:25 for both symbols, once each, none missing; each row the bar of the provider that produced it.
    const rows = await waitFor(async () => {
      const { rows: r } = await pool.query(`SELECT symbol, extract(epoch FROM ts) * 1000 AS t, open, high, low, close, volume, source FROM price_data
        WHERE symbol = ANY($1) AND interval = '1m' ORDER BY symbol, ts`, [symbols]);
      return r.length === 40 ? r : null;
    }, { what: 'the 40 bars in PostgreSQL', timeoutMs: 60_000 });
    const expected = symbols.flatMap((symbol) => Array.from({ length: 20 }, (_, i) => {
      const minute = 6 + i;
      const provider = source.get(minute)![symbol]!;
      const bar = marketBar(symbol, sessionTime(minute), provider);
      return { symbol, t: sessionTime(minute), open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume, source: provider };
    }));
    expect(rows.map((r) => ({ ...r, t: Number(r.t) }))).toEqual(expected);
  });
});
