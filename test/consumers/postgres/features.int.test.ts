// postgres-sink on price-features against the real Kafka, registry and PostgreSQL (isolated topics, random group and
// symbols): the sink contract, plus: every field of a record lands in its column of price_features (NULL for a value
// not known yet) with the version its `marketstream-source-version` header gives; newest wins by that version, an equal
// one overwriting (a newer indicator definition) and an older one refused as stale; reset and counts by symbol.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSink } from '../../../consumers/postgres/sink.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import { BAR_T0, DEFINITION, featureBar, HOUR, randomSymbol, testConfig, warmUpBar } from '../../helpers/index.ts';
import { featuresSinkContract, sendFeatures } from '../contract/features.ts';
import { sinkUnderTest } from '../contract/harness.ts';

const COLUMNS = `symbol, interval, ts, bars, close, definition, sma, ema_fast, ema_slow, macd, macd_signal, macd_histogram, rsi, bollinger_upper,
  bollinger_middle, bollinger_lower, atr, log_return, realized_volatility, vwap, computed_at`;

const select = (pool: Pool, symbols: readonly string[], versions: boolean) => pool.query(
  `SELECT ${COLUMNS}${versions ? ', version::text AS version' : ''} FROM price_features WHERE symbol = ANY($1) ORDER BY symbol, interval, ts`, [symbols])
  .then((r) => r.rows);

const symbols: string[] = [];
const sym = () => { const s = randomSymbol(); symbols.push(s); return s; };
let cleanup: Pool | undefined;
afterAll(async () => {
  await cleanup?.query('DELETE FROM price_features WHERE symbol = ANY($1)', [symbols]);
  await cleanup?.end();
});

// A replay rewrites the rows (equal versions overwrite) with the same values: the snapshot leaves xmin out.
featuresSinkContract('postgres', async (config) => {
  const pool = createPgPool(config, { max: 2 });
  return {
    snapshot: (s) => select(pool, s, true),
    values: (s) => select(pool, s, false),
    async count(symbol) {
      return Number((await pool.query('SELECT count(*) FROM price_features WHERE symbol = $1', [symbol])).rows[0].count);
    },
    async latestClose(symbol) {
      const { rows } = await pool.query('SELECT close FROM price_features WHERE symbol = $1 ORDER BY ts DESC LIMIT 1', [symbol]);
      return rows[0]?.close ?? null;
    },
    close: () => pool.end(),
  };
});

describe('postgres-sink: price-features → price_features', () => {
  const sut = sinkUnderTest('postgres');
  let pool: Pool;
  const rows = (symbol: string) => select(pool, [symbol], true);
  /** rsi, definition and version of each row. */
  const brief = async (symbol: string) => (await rows(symbol)).map((r) => [r.rsi, r.definition, Number(r.version)]);

  beforeAll(async () => {
    pool = cleanup = createPgPool(sut.base, { max: 2 });
    await migrate(pool);
    await sut.start();
  });

  it('writes every field of a record to its column, NULL for a value not known yet, with the version of its header', async () => {
    const s = sym();
    const full = featureBar(s, 1, 101);
    await sendFeatures(sut, [[warmUpBar(s, 0, 100), 7], [full, 12]]);
    await sut.settle('features');
    const nulls = Object.fromEntries(['sma', 'ema_fast', 'ema_slow', 'macd', 'macd_signal', 'macd_histogram', 'rsi', 'bollinger_upper', 'bollinger_middle',
      'bollinger_lower', 'atr', 'log_return', 'realized_volatility', 'vwap'].map((c) => [c, null]));
    expect(await rows(s)).toEqual([
      { symbol: s, interval: '1h', ts: new Date(BAR_T0), bars: '1', close: 100, definition: DEFINITION, ...nulls, computed_at: new Date(BAR_T0 + HOUR + 250),
        version: '7' },
      {
        symbol: s, interval: '1h', ts: new Date(BAR_T0 + HOUR), bars: '41', close: 101, definition: DEFINITION,
        // Every double exactly as sent: binary COPY prints and parses none.
        sma: full.sma, ema_fast: full.emaFast, ema_slow: full.emaSlow, macd: full.macd, macd_signal: full.macdSignal, macd_histogram: full.macdHistogram,
        rsi: full.rsi, bollinger_upper: full.bollingerUpper, bollinger_middle: full.bollingerMiddle, bollinger_lower: full.bollingerLower, atr: full.atr,
        log_return: full.logReturn, realized_volatility: full.realizedVolatility, vwap: full.vwap, computed_at: new Date(BAR_T0 + 2 * HOUR + 250),
        version: '12',
      },
    ]);
  });

  it('newest wins by version: an older one is refused as stale, an equal one overwrites (a new definition), a newer one overwrites', async () => {
    const s = sym();
    await sendFeatures(sut, [[featureBar(s, 0, 100, { rsi: 50 }), 5]]);
    await sut.settle('features');
    expect(await brief(s)).toEqual([[50, DEFINITION, 5]]);

    const stale = sut.stale('features');
    await sendFeatures(sut, [[featureBar(s, 0, 100, { rsi: 30 }), 3]]); // a stale writer's older recomputation
    await sut.settle('features');
    expect(await brief(s)).toEqual([[50, DEFINITION, 5]]);
    expect(sut.stale('features')).toBe(stale + 1);

    await sendFeatures(sut, [[featureBar(s, 0, 100, { rsi: 51, definition: 'RSI(21)' }), 5]]); // same input, newer definition
    await sut.settle('features');
    expect(await brief(s)).toEqual([[51, 'RSI(21)', 5]]);

    await sendFeatures(sut, [[featureBar(s, 0, 100, { rsi: 60 }), 8]]); // recomputed after a correction of the bar
    await sut.settle('features');
    expect(await brief(s)).toEqual([[60, DEFINITION, 8]]);
    expect(sut.stale('features')).toBe(stale + 1);
  });

  it('within one send, the highest version of a bar wins and the later of two equal ones, wherever they sit', async () => {
    const s = sym();
    await sendFeatures(sut, [
      [featureBar(s, 0, 100, { rsi: 40 }), 4], [featureBar(s, 0, 100, { rsi: 90 }), 9], [featureBar(s, 0, 100, { rsi: 45 }), 5],
      [featureBar(s, 0, 100, { rsi: 91 }), 9], [featureBar(s, 1, 101, { rsi: 70 }), 6],
    ]);
    await sut.settle('features');
    expect(await brief(s)).toEqual([[91, DEFINITION, 9], [70, DEFINITION, 6]]);
  });

  it('reset and counts by symbol: clears price_features rows of those symbols only', async () => {
    const [a, b] = [sym(), sym()];
    await sendFeatures(sut, [[featureBar(a, 0, 100), 1], [featureBar(a, 1, 101), 2], [featureBar(b, 0, 200), 3]]);
    await sut.settle('features');
    const sink = createPostgresSink(testConfig());
    await sink.connect();
    try {
      expect(await sink.counts!({ symbols: [a] })).toEqual({ 'price_data rows': 0, 'price_features rows': 2 });
      expect((await sink.counts!())['price_features rows']).toBeGreaterThanOrEqual(3);
      await sink.reset!({ symbols: [a] });
      expect(await sink.counts!({ symbols: [a, b] })).toEqual({ 'price_data rows': 0, 'price_features rows': 1 });
      expect((await rows(b)).map((r) => r.close)).toEqual([200]);
    } finally {
      await sink.close();
    }
  });
});
