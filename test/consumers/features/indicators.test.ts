// The incremental indicators against TA-Lib: test/fixtures/features/talib-reference.json holds synthetic 1m bars (a
// ~$190 stock over eight sessions, a session that opens halted, a ~$43,000 instrument) and TA-Lib's outputs for them,
// made by make-talib-fixture.py beside it. Every value must agree to 1e-9 relative (1e-12 absolute near 0), warm-up
// nulls included; a provisional bar replaced and a state restored from JSON mid-stream must give exactly what a plain
// run gives.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IndicatorState, type IndicatorBar, type IndicatorValues } from '../../../consumers/features/indicators.ts';

type Column = (number | null)[];
type Name = 'sma' | 'emaFast' | 'emaSlow' | 'macd' | 'macdSignal' | 'macdHistogram' | 'rsi' | 'bollingerUpper' | 'bollingerMiddle'
  | 'bollingerLower' | 'atr' | 'logReturn' | 'realizedVolatility' | 'vwap';
interface Series {
  bars: { time: number[]; open: number[]; high: number[]; low: number[]; close: number[]; volume: number[]; vwap: Column };
  expected: Record<Name, Column>;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/features/talib-reference.json', import.meta.url), 'utf8')) as {
  series: Record<string, Series>;
};
const NAMES: Name[] = ['sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi', 'bollingerUpper', 'bollingerMiddle',
  'bollingerLower', 'atr', 'logReturn', 'realizedVolatility', 'vwap'];

function barsOf(series: Series): IndicatorBar[] {
  const c = series.bars;
  return c.time.map((time, i) => ({
    time, open: c.open[i]!, high: c.high[i]!, low: c.low[i]!, close: c.close[i]!, volume: c.volume[i]!, vwap: c.vwap[i]!,
  }));
}

function run(bars: IndicatorBar[], feed: (state: IndicatorState, bar: IndicatorBar, i: number) => IndicatorValues): IndicatorValues[] {
  const state = new IndicatorState();
  return bars.map((bar, i) => feed(state, bar, i));
}

/** Where the computed values differ from TA-Lib's: `name[i]: got vs expected`, empty when all agree. */
function mismatches(got: IndicatorValues[], expected: Series['expected']): string[] {
  const out: string[] = [];
  for (const name of NAMES) {
    expected[name].forEach((want, i) => {
      const have = got[i]![name];
      const ok = want === null || have === null ? want === have : Math.abs(have - want) <= Math.max(1e-9 * Math.abs(want), 1e-12);
      if (!ok) out.push(`${name}[${i}]: ${have} vs ${want}`);
    });
  }
  return out;
}

/** The first bar whose values differ at all between two runs (exact comparison), or null. */
function firstDifference(a: IndicatorValues[], b: IndicatorValues[]): string | null {
  if (a.length !== b.length) return `${a.length} values vs ${b.length}`;
  const i = a.findIndex((v, j) => JSON.stringify(v) !== JSON.stringify(b[j]));
  return i < 0 ? null : `bar ${i}: ${JSON.stringify(a[i])} vs ${JSON.stringify(b[i])}`;
}

describe('incremental indicators against TA-Lib', () => {
  const stock = fixture.series.stock!;
  const bars = barsOf(stock);
  const plain = run(bars, (state, bar) => state.add(bar));

  it.each(Object.keys(fixture.series))('series %s: every value to 1e-9, warm-up nulls included', (name) => {
    const series = fixture.series[name]!;
    expect(Object.keys(series.expected).sort()).toEqual([...NAMES].sort());
    const got = run(barsOf(series), (state, bar) => state.add(bar));
    expect(mismatches(got, series.expected).slice(0, 20)).toEqual([]);
  });

  it('the fixture exercises TA-Lib warm-ups, flat windows, zero volume and bars with and without a vwap', () => {
    expect(bars.length).toBeGreaterThan(2500);
    expect(stock.expected.macd.findIndex((v) => v !== null)).toBe(33);
    expect(stock.expected.atr.findIndex((v) => v !== null)).toBe(14);
    expect(plain.some((v) => v.bollingerUpper !== null && v.bollingerUpper === v.bollingerMiddle)).toBe(true);
    expect(plain.some((v) => v.realizedVolatility === 0)).toBe(true);
    expect(bars.some((b) => b.vwap != null) && bars.some((b) => b.vwap == null)).toBe(true);
    const flat = fixture.series['flat-open']!.expected;
    expect(flat.rsi[14]).toBe(0); // TA-Lib: gain + loss of 0 gives 0, not 100
    expect(flat.vwap[0]).toBeNull();
  });

  it('counts the bars that went into the values', () => {
    expect(plain.map((v) => v.bars)).toEqual(bars.map((_, i) => i + 1));
    expect(plain.map((v) => v.time)).toEqual(stock.bars.time);
  });

  it('a provisional bar replaced three times gives what the final version alone gives', () => {
    const provisional = (bar: IndicatorBar, k: number): IndicatorBar => ({
      ...bar, close: bar.close * (1 + 0.003 * k), high: bar.high * (1 + 0.004 * k), low: bar.low * (1 - 0.002 * k),
      volume: bar.volume / (k + 1), vwap: bar.vwap == null ? null : bar.vwap * (1 - 0.001 * k),
    });
    const replaced = run(bars, (state, bar) => {
      state.add(provisional(bar, 3));
      state.replace(provisional(bar, 2));
      state.replace(provisional(bar, 1));
      return state.replace(bar);
    });
    expect(firstDifference(replaced, plain)).toBeNull();
  });

  it('a state serialized to JSON and restored mid-stream continues exactly', () => {
    let state = new IndicatorState();
    const restored = bars.map((bar, i) => {
      if (i % 97 === 0 || i === 25 || i === 33) state = IndicatorState.fromJSON(JSON.parse(JSON.stringify(state)));
      return state.add(bar);
    });
    expect(firstDifference(restored, plain)).toBeNull();
    // Restored between an add and its replace: the state before the last bar is in the JSON too.
    const bumped = (bar: IndicatorBar): IndicatorBar => ({ ...bar, close: bar.close + 1 });
    const s = new IndicatorState();
    bars.slice(0, 40).forEach((bar) => s.add(bumped(bar)));
    const again = IndicatorState.fromJSON(JSON.parse(JSON.stringify(s)));
    again.replace(bars[39]!);
    const fresh = new IndicatorState();
    bars.slice(0, 39).forEach((bar) => fresh.add(bumped(bar)));
    expect(again.values).toEqual(fresh.add(bars[39]!));
  });

  it('windowed values depend on their window only, bit for bit: no running sum drifts', () => {
    const start = bars.length - 60;
    const late = new IndicatorState();
    const tail = bars.slice(start).map((bar) => late.add(bar));
    for (const name of ['sma', 'bollingerUpper', 'bollingerMiddle', 'bollingerLower', 'realizedVolatility'] as const) {
      tail.slice(21).forEach((v, i) => expect(v[name], `${name} at bar ${start + 21 + i}`).toBe(plain[start + 21 + i]![name]));
    }
  });

  it('takes its periods from the constructor, with TA-Lib defaults', () => {
    const state = new IndicatorState({ sma: 5, rsi: 3 });
    expect(state.periods).toMatchObject({ sma: 5, rsi: 3, emaFast: 12, emaSlow: 26, macdSignal: 9, bollinger: 20, atr: 14 });
    const values = bars.slice(0, 5).map((bar) => state.add(bar));
    expect(values.map((v) => v.sma === null)).toEqual([true, true, true, true, false]);
    expect(values.map((v) => v.rsi === null)).toEqual([true, true, true, false, false]);
    expect(() => new IndicatorState({ atr: 1.5 })).toThrow(RangeError);
  });

  it('refuses bars out of event-time order and a replace of another bar', () => {
    const state = new IndicatorState();
    state.add(bars[1]!);
    expect(() => state.add(bars[0]!)).toThrow(/event-time order/);
    expect(() => state.add(bars[1]!)).toThrow(/event-time order/);
    expect(() => state.replace(bars[2]!)).toThrow(/replace of the bar/);
    expect(() => new IndicatorState().replace(bars[0]!)).toThrow(/before any bar/);
  });
});
