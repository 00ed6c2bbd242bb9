// Correlation of daily returns, pure: closes by UTC day per symbol → for each pair, the Pearson coefficient of the
// simple daily returns over the last `window` returns, computed on the days both symbols have a close.
/** Closes by day (`YYYY-MM-DD`, UTC) of one symbol. */
export type DailyCloses = ReadonlyMap<string, number>;

export interface PairCorrelation {
  /** The pair in sorted order (a < b): one direction per pair. */
  a: string;
  b: string;
  coefficient: number;
  /** Returns in the window (= the window size). */
  observations: number;
  /** Last day of the window. */
  lastDay: string;
}

export interface Skipped { a: string; b: string; reason: string }

/** Pearson's r, or null when either series has no variance (r is undefined). */
export function pearson(x: readonly number[], y: readonly number[]): number | null {
  const n = x.length;
  if (n !== y.length || n < 2) return null;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** Simple returns of both symbols over the last `window` returns of their common days, or why not. */
export function alignedReturns(a: DailyCloses, b: DailyCloses, window: number): { x: number[]; y: number[]; lastDay: string } | string {
  const days = [...a.keys()].filter((d) => b.has(d)).sort();
  if (days.length < window + 1) return `${Math.max(0, days.length - 1)} common daily returns, the window needs ${window}`;
  const used = days.slice(-(window + 1));
  const x: number[] = [], y: number[] = [];
  for (let i = 1; i < used.length; i++) {
    const [d0, d1] = [used[i - 1]!, used[i]!];
    x.push(a.get(d1)! / a.get(d0)! - 1);
    y.push(b.get(d1)! / b.get(d0)! - 1);
  }
  return { x, y, lastDay: used.at(-1)! };
}

/** Every pair of the given symbols (sorted, one direction), with its coefficient or the reason it has none. */
export function correlatePairs(series: ReadonlyMap<string, DailyCloses>, window: number): { pairs: PairCorrelation[]; skipped: Skipped[] } {
  const symbols = [...series.keys()].sort();
  const pairs: PairCorrelation[] = [];
  const skipped: Skipped[] = [];
  for (let i = 0; i < symbols.length; i++) {
    for (let j = i + 1; j < symbols.length; j++) {
      const [a, b] = [symbols[i]!, symbols[j]!];
      const r = alignedReturns(series.get(a)!, series.get(b)!, window);
      if (typeof r === 'string') { skipped.push({ a, b, reason: r }); continue; }
      const coefficient = pearson(r.x, r.y);
      if (coefficient === null) { skipped.push({ a, b, reason: 'a series without variance (flat prices)' }); continue; }
      pairs.push({ a, b, coefficient, observations: r.x.length, lastDay: r.lastDay });
    }
  }
  return { pairs, skipped };
}
