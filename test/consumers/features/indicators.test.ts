// The incremental indicators against TA-Lib: test/fixtures/features/talib-reference.json holds ~3,000 synthetic 1m bars
// and TA-Lib's outputs for them (made by make-talib-fixture.py beside it). Every value must agree to 1e-9 relative
// (1e-12 absolute near 0), warm-up nulls included; a provisional bar replaced and a state restored from JSON mid-stream
// must give exactly what a plain run gives.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IndicatorState, type IndicatorBar, type IndicatorValues } from '../../../consumers/features/indicators.ts';

type Column = (number | null)[];
type Expected = Record<'sma' | 'emaFast' | 'emaSlow' | 'macd' | 'macdSignal' | 'macdHistogram' | 'rsi' | 'bollingerUpper'
  | 'bollingerMiddle' | 'bollingerLower' | 'atr' | 'logReturn' | 'realizedVolatility' | 'vwap', Column>;
interface Fixture {
  bars: { time: number[]; open: number[]; high: number[]; low: number[]; close: number[]; volume: number[]; vwap: Column };
  expected: Expected;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/features/talib-reference.json', import.meta.url), 'utf8')) as Fixture;
const { bars: columns, expected } = fixture;
const bars: IndicatorBar[] = columns.time.map((time, i) => ({
  time, open: columns.open[i]!, high: columns.high[i]!, low: columns.low[i]!, close: columns.close[i]!, volume: columns.volume[i]!,
  vwap: columns.vwap[i]!,
}));
const barAt = (i: number): IndicatorBar => bars[i]!;
const names = Object.keys(expected) as (keyof Expected)[];

function run(feed: (state: IndicatorState, bar: IndicatorBar, i: number) => IndicatorValues): IndicatorValues[] {
  const state = new IndicatorState();
  return bars.map((bar, i) => feed(state, bar, i));
}

/** Where the computed values differ from TA-Lib's: `name[i]: got vs expected`, empty when all agree. */
function mismatches(got: IndicatorValues[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    expected[name].forEach((want, i) => {
      const have = got[i]![name];
      const ok = want === null || have === null ? want === have : Math.abs(have - want) <= Math.max(1e-9 * Math.abs(want), 1e-12);
      if (!ok) out.push(`${name}[${i}]: ${have} vs ${want}`);
    });
  }
  return out;
}

describe('incremental indicators', () => {
  const plain = run((state, bar) => state.add(bar));

  it('match TA-Lib on every bar of the fixture to 1e-9, warm-up nulls included', () => {
    expect(bars.length).toBeGreaterThan(2500);
    expect(names).toEqual(expect.arrayContaining(['sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi',
      'bollingerUpper', 'bollingerMiddle', 'bollingerLower', 'atr', 'logReturn', 'realizedVolatility', 'vwap']));
    expect(mismatches(plain).slice(0, 20)).toEqual([]);
    // The fixture exercises what it should: TA-Lib's warm-ups, flat windows (a halt) and bars that carry a vwap.
    expect(expected.macd.findIndex((v) => v !== null)).toBe(33);
    expect(expected.atr.findIndex((v) => v !== null)).toBe(14);
    expect(plain.some((v) => v.bollingerUpper !== null && v.bollingerUpper === v.bollingerMiddle)).toBe(true);
    expect(plain.some((v) => v.realizedVolatility === 0)).toBe(true);
    expect(bars.some((b) => b.vwap != null) && bars.some((b) => b.vwap == null)).toBe(true);
  });

  it('counts the bars that went into the values', () => {
    expect(plain.map((v) => v.bars)).toEqual(bars.map((_, i) => i + 1));
    expect(plain.map((v) => v.time)).toEqual(columns.time);
  });

  it('a provisional bar replaced three times gives what the final version alone gives', () => {
    const provisional = (bar: IndicatorBar, k: number): IndicatorBar => ({
      ...bar, close: bar.close * (1 + 0.003 * k), high: bar.high * (1 + 0.004 * k), low: bar.low * (1 - 0.002 * k),
      volume: bar.volume / (k + 1), vwap: bar.vwap == null ? null : bar.vwap * (1 - 0.001 * k),
    });
    const replaced = run((state, bar) => {
      state.add(provisional(bar, 3));
      state.replace(provisional(bar, 2));
      state.replace(provisional(bar, 1));
      return state.replace(bar);
    });
    expect(replaced).toEqual(plain);
  });

  it('a state serialized to JSON and restored mid-stream continues exactly', () => {
    let state = new IndicatorState();
    const restored = bars.map((bar, i) => {
      if (i % 97 === 0 || i === 25 || i === 33) state = IndicatorState.fromJSON(JSON.parse(JSON.stringify(state)));
      return state.add(bar);
    });
    expect(restored).toEqual(plain);
    // Restored between an add and its replace: the state before the last bar is in the JSON too.
    const s = new IndicatorState();
    bars.slice(0, 40).forEach((bar) => s.add({ ...bar, close: bar.close + 1 }));
    const again = IndicatorState.fromJSON(JSON.parse(JSON.stringify(s)));
    again.replace(barAt(39));
    const fresh = new IndicatorState();
    bars.slice(0, 39).forEach((bar) => fresh.add({ ...bar, close: bar.close + 1 }));
    expect(again.values).toEqual(fresh.add(barAt(39)));
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
    state.add(barAt(1));
    expect(() => state.add(barAt(0))).toThrow(/event-time order/);
    expect(() => state.add(barAt(1))).toThrow(/event-time order/);
    expect(() => state.replace(barAt(2))).toThrow(/replace of the bar/);
    expect(() => new IndicatorState().replace(barAt(0))).toThrow(/before any bar/);
  });
});
