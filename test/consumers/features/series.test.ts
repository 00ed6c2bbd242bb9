// A key's series (consumers/features/series.ts): whatever order the bars of a key come in, and wherever its state is
// folded, checkpointed and restored, the values of every bar are those of one plain run over the bars in event time.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PERIODS, IndicatorState, type IndicatorValues } from '../../../consumers/features/indicators.ts';
import { emptyChanges, KeySeries, TooLateError, type SeriesBar } from '../../../consumers/features/series.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/features/talib-reference.json', import.meta.url), 'utf8')) as {
  series: Record<string, { bars: Record<'time' | 'open' | 'high' | 'low' | 'close' | 'volume', number[]> & { vwap: (number | null)[] } }>;
};
const c = fixture.series.stock!.bars;
const BARS: SeriesBar[] = c.time.slice(0, 300).map((time, i) => ({
  time, open: c.open[i]!, high: c.high[i]!, low: c.low[i]!, close: c.close[i]!, volume: c.volume[i]!, vwap: c.vwap[i] ?? null,
}));

/** The values of one plain run over `bars` in event time: the reference. */
function plain(bars: readonly SeriesBar[]): Map<number, IndicatorValues> {
  const state = new IndicatorState(DEFAULT_PERIODS);
  return new Map([...bars].sort((a, b) => a.time - b.time).map((b) => [b.time, state.add(b)]));
}

/** Feeds `bars` as records with versions 0, 1, …; returns every bar's last published values. */
function feed(series: KeySeries, bars: readonly SeriesBar[], published = new Map<number, IndicatorValues>(), first = 0): Map<number, IndicatorValues> {
  bars.forEach((bar, i) => {
    const changes = emptyChanges();
    series.apply(bar, first + i, changes);
    for (const [time, v] of changes.values) published.set(time, v.values);
  });
  return published;
}

const corrected = (bar: SeriesBar, by: number): SeriesBar => ({ ...bar, close: bar.close + by, high: Math.max(bar.high, bar.close + by) });

describe('a key series', () => {
  it('in order: one indicator step per bar, every value that of a plain run', () => {
    expect(feed(new KeySeries(DEFAULT_PERIODS, 500), BARS)).toEqual(plain(BARS));
  });

  it('a correction in the middle republishes the later bars with what a run over the corrected bars gives', () => {
    const series = new KeySeries(DEFAULT_PERIODS, 500);
    const published = feed(series, BARS);
    const fix = corrected(BARS[150]!, 0.5);
    const changes = emptyChanges();
    series.apply(fix, 1000, changes);
    expect([...changes.values.keys()]).toEqual(BARS.slice(150).map((b) => b.time)); // the EMAs carry it to every later bar
    expect(changes.recomputed).toBe(BARS.length - 151);
    for (const [time, v] of changes.values) published.set(time, v.values);
    const reference = plain(BARS.map((b, i) => (i === 150 ? fix : b)));
    expect(published).toEqual(reference);
  });

  it('a late bar is placed in event time: the later bars count it and take it into their values', () => {
    const late = BARS[200]!;
    const published = feed(new KeySeries(DEFAULT_PERIODS, 500), [...BARS.slice(0, 200), ...BARS.slice(201), late]);
    expect(published).toEqual(plain(BARS));
    expect(published.get(BARS.at(-1)!.time)!.bars).toBe(BARS.length);
  });

  it('a provisional bar updated three times replaces its values, it does not add bars', () => {
    const series = new KeySeries(DEFAULT_PERIODS, 500);
    const last = BARS.at(-1)!;
    const published = feed(series, [...BARS.slice(0, -1), corrected(last, -0.3), corrected(last, 0.2), corrected(last, 0.1), last]);
    expect(published).toEqual(plain(BARS));
    expect(series.size).toBe(BARS.length);
  });

  it('the same bar again (a producer restart republishing its last minutes) changes nothing; a redelivery by version neither', () => {
    const series = new KeySeries(DEFAULT_PERIODS, 500);
    feed(series, BARS);
    const again = emptyChanges();
    series.apply(BARS[290]!, 5000, again);
    series.apply(BARS.at(-1)!, 5001, again);
    series.apply(corrected(BARS[10]!, 9), 3, again); // version 3 was taken: a redelivered record
    expect(again.values.size).toBe(0);
    expect(series.version).toBe(5001);
  });

  it('folded into the base and restored from a snapshot mid-stream: the same values as one run', () => {
    const horizon = 40;
    const series = new KeySeries(DEFAULT_PERIODS, horizon);
    const published = feed(series, BARS.slice(0, 170));
    expect(series.size).toBeLessThanOrEqual(horizon + horizon / 4);
    const restored = new KeySeries(DEFAULT_PERIODS, horizon, JSON.parse(JSON.stringify(series.snapshot())));
    feed(restored, BARS.slice(170), published, 170);
    expect(published).toEqual(plain(BARS));
    // A correction inside the held window, after the restore, still agrees with a plain run.
    const fix = corrected(BARS[BARS.length - 20]!, 0.25);
    const changes = emptyChanges();
    restored.apply(fix, 10_000, changes);
    for (const [time, v] of changes.values) published.set(time, v.values);
    expect(published).toEqual(plain(BARS.map((b) => (b.time === fix.time ? fix : b))));
  });

  it('a bar older than the held window is refused with the reason, and the series is unchanged', () => {
    const series = new KeySeries(DEFAULT_PERIODS, 40);
    feed(series, BARS.slice(1, 120));
    const before = JSON.stringify(series.snapshot());
    expect(() => series.apply(BARS[0]!, 999, emptyChanges())).toThrow(TooLateError);
    expect(() => series.apply(BARS[0]!, 999, emptyChanges())).toThrow(/older than the 40 bars .* rebuild features/);
    expect(JSON.stringify(series.snapshot())).toBe(before);
  });

  it('a missing bar whose neighbours were folded on one side and held on the other is still placed exactly', () => {
    // Bar `gap` never came; find where a fold stops exactly between gap - 1 (folded into the base) and gap + 1 (held).
    const fed = (gap: number, after: number) => [...BARS.slice(0, gap), ...BARS.slice(gap + 1, gap + 1 + after)];
    const found = Array.from({ length: 80 }, (_, g) => 60 + g).flatMap((gap) => Array.from({ length: 60 }, (_, after) => ({ gap, after })))
      .find(({ gap, after }) => {
        const s = new KeySeries(DEFAULT_PERIODS, 40);
        feed(s, fed(gap, after));
        const snap = s.snapshot();
        return snap.bars[0]?.bar.time === BARS[gap + 1]!.time && snap.base.current?.values.time === BARS[gap - 1]!.time;
      });
    expect(found).toBeDefined();
    const { gap, after } = found!;
    const series = new KeySeries(DEFAULT_PERIODS, 40);
    const published = feed(series, fed(gap, after));
    const changes = emptyChanges();
    series.apply(BARS[gap]!, 10_000, changes);
    for (const [time, v] of changes.values) published.set(time, v.values);
    expect(published).toEqual(plain(BARS.slice(0, gap + 1 + after)));
  });

  it('before anything was folded, a bar earlier than all is still placed exactly', () => {
    expect(feed(new KeySeries(DEFAULT_PERIODS, 500), [...BARS.slice(1, 100), BARS[0]!])).toEqual(plain(BARS.slice(0, 100)));
  });
});
