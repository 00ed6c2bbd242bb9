// The features group against the real servers (Kafka, the registry, PostgreSQL for its state): bars in, price-features
// out. Every value of a few thousand bars agrees with TA-Lib to 1e-9 relative, warm-up nulls included (the fixture
// test/fixtures/features/talib-reference.json, made by make-talib-fixture.py beside it). Corrections in the middle of a
// key's history, a late bar and a provisional bar updated three times end with every bar's features what one plain run
// over the final bars gives, and what a fresh group computing the whole log again (a rebuild) publishes.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import { createKafka } from '../../../lib/kafka.ts';
import { createPublisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createPgPool } from '../../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { ensureTopics } from '../../../topics/admin.ts';
import { priceFeatures, priceUpdates, withName } from '../../../topics/index.ts';
import { deleteTestTopics, randomName, randomSymbol, readDlq, readTopic, testConfig, testLogger } from '../../helpers/index.ts';
import { caughtUp, differences, fixtureBars, priceRecord, publishedFeatures, reference, valuesOf, type Bar } from './harness.ts';

type Name = 'sma' | 'emaFast' | 'emaSlow' | 'macd' | 'macdSignal' | 'macdHistogram' | 'rsi' | 'bollingerUpper' | 'bollingerMiddle'
  | 'bollingerLower' | 'atr' | 'logReturn' | 'realizedVolatility' | 'vwap';
const NAMES: Name[] = ['sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi', 'bollingerUpper', 'bollingerMiddle',
  'bollingerLower', 'atr', 'logReturn', 'realizedVolatility', 'vwap'];
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/features/talib-reference.json', import.meta.url), 'utf8')) as {
  series: Record<string, { bars: Record<string, (number | null)[]>; expected: Record<Name, (number | null)[]> }>;
};

const prices = withName(priceUpdates, randomName('test-features-prices'));
const live = withName(priceFeatures, randomName('test-features-live'));
const rebuilt = withName(priceFeatures, randomName('test-features-rebuilt'));
const livePrefix = randomName('test-features');
const rebuildPrefix = randomName('test-features-rebuild');
const config = testConfig({ KAFKA_GROUP_PREFIX: livePrefix, TOPIC_PARTITIONS: '3', METRICS_PORT: '0' });
const logger = testLogger('features-test');
const exec = promisify(execFile);

describe('the features group', () => {
  const kafka = createKafka(config, logger, 'features-test');
  const admin = kafka.admin();
  const serde = createSerde(config);
  const publisher = createPublisher({ kafka, serde, logger });
  const pool = createPgPool(config, { max: 2 });
  const running: RunningSinks[] = [];
  const sent: PriceUpdate[] = [];
  const send = async (records: PriceUpdate[]) => { sent.push(...records); await publisher.send(prices, records, { source: 'test' }); };
  const group = (prefix: string, out: typeof live) =>
    startSinks({ config: testConfig({ KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '3', METRICS_PORT: '0' }), logger, names: ['features'],
      topics: { prices, features: out } }).then((g) => { running.push(g); return g; });

  beforeAll(async () => {
    await admin.connect();
    await ensureTopics(kafka, config, [prices, live, rebuilt]);
    await publisher.connect();
  });
  afterAll(async () => {
    await Promise.all(running.map((g) => g.stop()));
    await publisher.disconnect();
    await pool.query('DELETE FROM feature_bars WHERE group_id = ANY($1)', [[`${livePrefix}.features`, `${rebuildPrefix}.features`]]);
    await pool.query('DELETE FROM feature_state WHERE group_id = ANY($1)', [[`${livePrefix}.features`, `${rebuildPrefix}.features`]]);
    await pool.end();
    await admin.disconnect();
    await deleteTestTopics(kafka, [prices.name, prices.dlq, live.name, live.dlq, rebuilt.name, rebuilt.dlq]);
  });

  const series = Object.entries(fixture.series).map(([name, s]) => ({ name, symbol: randomSymbol(), bars: fixtureBars(s), expected: s.expected }));

  it('computes every value of the TA-Lib fixture to 1e-9 relative, warm-up nulls included, through the real stack', { timeout: 180_000 }, async () => {
    await group(livePrefix, live);
    for (const s of series) await send(s.bars.map((b) => priceRecord(s.symbol, b)));
    const total = series.reduce((n, s) => n + s.bars.length, 0);
    const out = await publishedFeatures(kafka, serde, live, series.map((s) => s.symbol), (m) => m.size === total);
    const off: string[] = [];
    for (const s of series) {
      s.bars.forEach((b, i) => {
        const f = out.get(`${s.symbol}|${b.eventTime}`)!;
        if (Number(f.bars) !== i + 1) off.push(`${s.name}[${i}] bars: ${f.bars}`);
        for (const name of NAMES) {
          const want = s.expected[name][i]!;
          const have = f[name] ?? null;
          const ok = want === null || have === null ? want === have : Math.abs(have - want) <= Math.max(1e-9 * Math.abs(want), 1e-12);
          if (!ok) off.push(`${s.name}[${i}] ${name}: ${have} vs ${want}`);
        }
      });
    }
    expect(off.slice(0, 10)).toEqual([]);
    expect(total).toBeGreaterThan(4000);

    // `explain SYMBOL`: the latest features of the symbol, and the price record of its latest bar read back from the log.
    const s = series[0]!;
    const env = { ...process.env, KAFKA_GROUP_PREFIX: livePrefix, PRICE_UPDATES_TOPIC: prices.name, LOG_LEVEL: 'error' };
    const { stdout } = await exec(process.execPath, ['bin/marketstream.js', 'explain', s.symbol, '--json'], { env });
    type Explained = { interval: string; values: Record<string, number>; records: { bar: { found: boolean; value: { value: PriceUpdate } } } };
    const x = JSON.parse(stdout) as { features: Explained[] };
    expect(x.features.map((f) => f.interval)).toEqual(['1m']);
    const lastBar = s.bars.at(-1)!;
    expect(x.features[0]!.values.bars).toBe(s.bars.length);
    expect(x.features[0]!.values.rsi).toBe(out.get(`${s.symbol}|${lastBar.eventTime}`)!.rsi);
    expect(x.features[0]!.records.bar.found).toBe(true);
    expect(x.features[0]!.records.bar.value.value).toMatchObject({ symbol: s.symbol, eventTime: lastBar.eventTime, close: lastBar.close });
  });

  it('corrections mid-history, a late bar and a provisional bar updated three times end as one plain run over the final bars, and as a rebuild',
    { timeout: 240_000 }, async () => {
      const symbol = randomSymbol();
      const bars = series[0]!.bars.slice(0, 400);
      const moved = (b: Bar, by: number): Bar => ({ ...b, close: b.close + by, high: Math.max(b.high, b.close + by), low: Math.min(b.low, b.close + by) });
      const late = bars[250]!;
      // In order except bar 250, which comes after bar 330; then two corrections of earlier bars; the last bar provisional.
      await send([...bars.slice(0, 250), ...bars.slice(251, 331)].map((b) => priceRecord(symbol, b)));
      await send([priceRecord(symbol, late)]);
      await send([priceRecord(symbol, moved(bars[120]!, 0.75)), priceRecord(symbol, moved(bars[300]!, -0.4))]);
      await send(bars.slice(331, 399).map((b) => priceRecord(symbol, b)));
      const last = bars[399]!;
      for (const by of [-0.2, 0.3, 0.1]) await send([priceRecord(symbol, moved(last, by))]);
      await send([priceRecord(symbol, last)]);
      await caughtUp(admin, `${livePrefix}.features`, prices.name);

      const symbols = [symbol, ...series.map((s) => s.symbol)];
      const want = reference(sent);
      const liveOut = await publishedFeatures(kafka, serde, live, symbols, (m) => m.size === want.size);
      expect(differences(liveOut, want)).toEqual([]);
      expect(liveOut.get(`${symbol}|${last.eventTime}`)!.bars).toBe(400); // the provisional bar is one bar

      // A fresh group over the whole log (what `rebuild features` does after clearing the state): the same features.
      await group(rebuildPrefix, rebuilt);
      const again = await publishedFeatures(kafka, serde, rebuilt, symbols, (m) => m.size === want.size);
      const comparable = (m: typeof again) => [...m].map(([k, f]) => [k, valuesOf(f)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
      expect(comparable(again)).toEqual(comparable(liveOut));

      // `marketstream rebuild features` (the group stopped): clears the live group's state, recomputes every bar from the
      // log and publishes it again; the newest features of every bar are what they were.
      await running.shift()!.stop();
      const records = sent.length;
      const before = await readTopic(kafka, live.name).then((m) => m.length);
      const env = { ...process.env, KAFKA_GROUP_PREFIX: livePrefix, PRICE_UPDATES_TOPIC: prices.name, PRICE_FEATURES_TOPIC: live.name, LOG_LEVEL: 'error',
        TOPIC_PARTITIONS: '3', METRICS_PORT: '0' };
      const { stdout } = await exec(process.execPath, ['bin/marketstream.js', 'rebuild', 'features', '--yes', '--json'], { env });
      const r = JSON.parse(stdout) as { completed: boolean; records: number; counts: Record<string, number> };
      expect(r.completed).toBe(true);
      expect(r.records).toBe(records);
      expect(r.counts['feature_state series']).toBe(symbols.length);
      const after = await publishedFeatures(kafka, serde, live, symbols, (m) => m.size === want.size);
      expect(await readTopic(kafka, live.name).then((m) => m.length)).toBeGreaterThanOrEqual(before + want.size); // every bar published again
      expect(comparable(after)).toEqual(comparable(liveOut));
    });

  it('a correction older than the bars the group holds is dead-lettered with the reason; the other bars stay exact', { timeout: 120_000 }, async () => {
      const prefix = randomName('test-features-horizon');
      const out = withName(priceFeatures, randomName('test-features-horizon-out'));
      const own = withName(priceUpdates, randomName('test-features-horizon-prices'));
      await ensureTopics(kafka, config, [own, out]);
      const symbol = randomSymbol();
      const bars = series[0]!.bars.slice(0, 120);
      const records = bars.map((b) => priceRecord(symbol, b));
      const old = { ...records[3]!, close: records[3]!.close + 1, high: Math.max(records[3]!.high, records[3]!.close + 1) };
      await publisher.send(own, records, { source: 'test' });
      await publisher.send(own, [old], { source: 'test' });
      const g = await startSinks({ config: testConfig({ KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '3', METRICS_PORT: '0', FEATURES_HISTORY_BARS: '40' }),
        logger, names: ['features'], topics: { prices: own, features: out } });
      try {
        const [dead] = await readDlq(kafka, own.dlq, [symbol], 1);
        expect(dead!.headers['error-class']).toBe('TooLateError');
        expect(dead!.headers['error-message']).toMatch(/older than the 40 bars the features group holds/);
        const published = await publishedFeatures(kafka, serde, out, [symbol], (m) => m.size === bars.length);
        expect(differences(published, reference(records))).toEqual([]);
      } finally {
        await g.stop();
        await pool.query('DELETE FROM feature_bars WHERE group_id = $1', [`${prefix}.features`]);
        await pool.query('DELETE FROM feature_state WHERE group_id = $1', [`${prefix}.features`]);
        await deleteTestTopics(kafka, [own.name, own.dlq, out.name, out.dlq]);
      }
    });
});
