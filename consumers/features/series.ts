// One key's series for the features group (a symbol and interval): the last bars of the key in event-time order, the
// indicator state before the first of them (`base`), and the indicator values after each bar. Pure, no I/O.
//
// A record goes in with its version (its offset: lib/record-headers.ts). A version at or below the newest the series
// has taken is a redelivery and changes nothing, so a batch read again after a crash or a rebalance is a no-op. Then:
//   - a bar after the last one is appended (one indicator step);
//   - the last bar again with other values (a provisional bar updated before it closes, a correction of the latest
//     bar) replaces it: the step is recomputed from the state before it;
//   - a bar inside the held window, new (a late bar) or with other values (a correction), recomputes every held bar
//     from the base, and every bar from there on whose values changed is reported;
//   - the same bar with the same values changes nothing;
//   - a bar at or before the last bar folded into the base (more than `horizon` bars of its key back) cannot be placed
//     exactly: TooLateError, which the runner dead-letters with the reason. A rebuild reads the log in the same order and
//     refuses it the same way. A missing bar that arrives late but after the last folded one still goes in exactly.
// The window keeps `horizon` bars; older ones are folded into the base in steps of a quarter of it, so a fold (and the
// delete it costs in the state store) happens once per horizon / 4 bars, not on every bar.
import { ValidationError } from '../../lib/errors.ts';
import { IndicatorState, type IndicatorBar, type IndicatorPeriods, type IndicatorSnapshot, type IndicatorValues } from './indicators.ts';

export interface SeriesBar extends IndicatorBar { vwap: number | null }

/** What the state store keeps of a series: the base, the held bars (with the version that last wrote each), the version. */
export interface SeriesSnapshot {
  base: IndicatorSnapshot;
  bars: ReadonlyArray<{ bar: SeriesBar; version: number }>;
  version: number;
}

/** What applying records changed, for the state store and the output. */
export interface SeriesChanges {
  /** Bars whose indicator values changed (time → values, and the bar's close), to publish. */
  values: Map<number, { values: IndicatorValues; close: number }>;
  /** Held bars written or rewritten (time → bar and the version that wrote it), to store. */
  bars: Map<number, { bar: SeriesBar; version: number }>;
  /** Bars folded into the base: the store drops its bars up to this time and keeps the new base. */
  foldedThrough: number | null;
  /** Bars recomputed because a correction or a late bar changed an earlier one (not the appended or replaced last bar). */
  recomputed: number;
}

export class TooLateError extends ValidationError {
  constructor(time: number, first: number, horizon: number) {
    super(`bar at ${new Date(time).toISOString()} is older than the ${horizon} bars the features group holds for its key (from ` +
      `${new Date(first).toISOString()}), so its features cannot be recomputed exactly; \`marketstream rebuild features\` recomputes every bar from the log`);
    this.name = 'TooLateError';
  }
}

const sameBar = (a: SeriesBar, b: SeriesBar) =>
  a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume && (a.vwap ?? null) === (b.vwap ?? null);

const VALUE_FIELDS = ['bars', 'sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi', 'bollingerUpper', 'bollingerMiddle',
  'bollingerLower', 'atr', 'logReturn', 'realizedVolatility', 'vwap'] as const satisfies readonly (keyof IndicatorValues)[];
const sameValues = (a: IndicatorValues, b: IndicatorValues) => VALUE_FIELDS.every((f) => Object.is(a[f], b[f]));

export class KeySeries {
  readonly periods: IndicatorPeriods;
  readonly horizon: number;
  #base: IndicatorState;
  #bars: SeriesBar[] = [];
  #barVersions: number[] = [];
  #values: IndicatorValues[] = [];
  #live: IndicatorState;
  #version: number;

  constructor(periods: IndicatorPeriods, horizon: number, snapshot?: SeriesSnapshot) {
    if (!Number.isInteger(horizon) || horizon < 1) throw new RangeError(`horizon must be a positive integer: ${horizon}`);
    this.periods = periods;
    this.horizon = horizon;
    this.#base = snapshot ? IndicatorState.fromJSON(snapshot.base) : new IndicatorState(periods);
    this.#version = snapshot?.version ?? -1;
    this.#live = IndicatorState.fromJSON(this.#base.toJSON());
    for (const { bar, version } of snapshot?.bars ?? []) {
      this.#bars.push(bar);
      this.#barVersions.push(version);
      this.#values.push(this.#live.add(bar));
    }
  }

  /** The newest record version taken (-1: none). */
  get version(): number { return this.#version; }
  /** Bars held (the window), and how many bars of the key went in since its first. */
  get size(): number { return this.#bars.length; }
  get latest(): IndicatorValues | null { return this.#values.at(-1) ?? null; }
  /** The values of the held bar at `time`, or undefined when it is not held. */
  valuesAt(time: number): IndicatorValues | undefined {
    const i = this.#indexOf(time);
    return i < this.#bars.length && this.#bars[i]!.time === time ? this.#values[i] : undefined;
  }

  snapshot(): SeriesSnapshot {
    return { base: this.#base.toJSON(), bars: this.#bars.map((bar, i) => ({ bar, version: this.#barVersions[i]! })), version: this.#version };
  }

  /** Applies one record (see the top of this file); `changes` accumulates over a batch. */
  apply(bar: SeriesBar, version: number, changes: SeriesChanges): void {
    if (version <= this.#version) return;
    const n = this.#bars.length;
    const last = this.#bars[n - 1];
    if (!last || bar.time > last.time) {
      const values = this.#live.add(bar);
      this.#bars.push(bar);
      this.#barVersions.push(version);
      this.#values.push(values);
      this.#changed(changes, n, version);
    } else if (bar.time === last.time) {
      if (!sameBar(bar, last)) {
        this.#values[n - 1] = this.#live.replace(bar);
        this.#bars[n - 1] = bar;
        this.#barVersions[n - 1] = version;
        this.#changed(changes, n - 1, version);
      }
    } else {
      const i = this.#indexOf(bar.time);
      const first = this.#bars[0]!;
      // At or before the last bar folded into the base: its place is inside the base, which cannot be recomputed. A bar
      // between that one and the first held bar (one that was missing) still goes in exactly, at the front.
      const folded = this.#base.values?.time;
      if (folded !== undefined && bar.time <= folded) throw new TooLateError(bar.time, first.time, this.horizon);
      const replaces = this.#bars[i]!.time === bar.time;
      if (replaces && sameBar(bar, this.#bars[i]!)) { this.#version = version; return; }
      if (replaces) {
        this.#bars[i] = bar;
        this.#barVersions[i] = version;
      } else {
        this.#bars.splice(i, 0, bar);
        this.#barVersions.splice(i, 0, version);
        this.#values.splice(i, 0, undefined as unknown as IndicatorValues);
      }
      changes.bars.set(bar.time, { bar, version });
      this.#recomputeFrom(i, changes);
    }
    this.#version = version;
    this.#fold(changes);
  }

  #changed(changes: SeriesChanges, i: number, version: number): void {
    changes.bars.set(this.#bars[i]!.time, { bar: this.#bars[i]!, version });
    changes.values.set(this.#bars[i]!.time, { values: this.#values[i]!, close: this.#bars[i]!.close });
  }

  /** Every held bar again from the base; those from `from` on whose values changed are reported. */
  #recomputeFrom(from: number, changes: SeriesChanges): void {
    const state = IndicatorState.fromJSON(this.#base.toJSON());
    for (let j = 0; j < this.#bars.length; j++) {
      const values = state.add(this.#bars[j]!);
      if (j < from) continue;
      const before = this.#values[j];
      if (before === undefined || !sameValues(before, values)) {
        changes.values.set(values.time, { values, close: this.#bars[j]!.close });
        if (j > from) changes.recomputed++;
      }
      this.#values[j] = values;
    }
    this.#live = state;
  }

  /** Past horizon + a quarter: the oldest bars go into the base, down to `horizon` held. */
  #fold(changes: SeriesChanges): void {
    if (this.#bars.length <= this.horizon + Math.max(1, Math.floor(this.horizon / 4))) return;
    const drop = this.#bars.length - this.horizon;
    for (let j = 0; j < drop; j++) this.#base.add(this.#bars[j]!);
    changes.foldedThrough = this.#bars[drop - 1]!.time;
    for (const bar of this.#bars.slice(0, drop)) changes.bars.delete(bar.time);
    this.#bars.splice(0, drop);
    this.#barVersions.splice(0, drop);
    this.#values.splice(0, drop);
  }

  /** Index of the first held bar at or after `time` (binary search). */
  #indexOf(time: number): number {
    let lo = 0;
    let hi = this.#bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#bars[mid]!.time < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export function emptyChanges(): SeriesChanges {
  return { values: new Map(), bars: new Map(), foldedThrough: null, recomputed: 0 };
}
