// Yahoo source through yahoo-finance2 with recorded Yahoo responses fed via the library's fetch hook (no network):
// quote and chart parsing, the cookie/crumb handshake, retry after a 500, the circuit breaker, 4xx not retried, and
// recovery from a refused crumb (401 "Invalid Crumb": a new crumb, or the circuit opening while Yahoo keeps refusing).
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';

import { createYahooSource, unadjust, type YahooSource } from '../../../producers/sources/yahoo.ts';
import { QUALITY, validatePriceUpdate } from '../../../topics/price-update.ts';

import { fakeYahooFetch, yahooFixture as fixture, type Recorded } from '../../helpers/fake-yahoo.ts';
import { CircuitOpenError, YahooCrumbError, YahooRequestError } from '../../../lib/errors.ts';

/** A fake Yahoo: answers the crumb handshake, quotes and charts from fixtures; `chart` can be scripted per call. */
function fakeYahoo() {
  const chartScript: Recorded[] = [];
  let chartDefault: ((symbol: string) => Recorded) = (symbol) =>
    (symbol === 'NOPE' ? fixture('chart-NOPE-404.json') : symbol === 'MSFT' ? fixture('chart-MSFT-1d.json') : fixture('chart-AAPL-1m.json'));
  const { fetch, calls, crumbs } = fakeYahooFetch((url) => {
    if (url.includes('/v7/finance/quote')) return fixture('quote-AAPL-MSFT.json');
    const chart = /\/v8\/finance\/chart\/([^?]+)/.exec(url);
    if (chart) return chartScript.shift() ?? chartDefault(decodeURIComponent(chart[1] as string));
    return undefined;
  });
  return {
    fetch, calls, chartScript, crumbs,
    quoteCalls: () => calls.filter((u) => u.includes('/v7/finance/quote')),
    chartCalls: () => calls.filter((u) => u.includes('/v8/finance/chart/')).length,
    failChartsFromNowOn: () => { chartDefault = () => fixture('error-500.json'); },
    healCharts: () => { chartDefault = () => fixture('chart-AAPL-1m.json'); },
  };
}

const logger = createLogger({ level: 'silent', format: 'json' });
const FAST = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000, maxConcurrent: 4 };
const NOW = Date.UTC(2026, 9, 2, 14, 16, 5); // 5 s after the last recorded trade
const sources: YahooSource[] = [];
function source(config: Parameters<typeof createYahooSource>[0], fake: ReturnType<typeof fakeYahoo>): YahooSource {
  const s = createYahooSource(config, { logger, fetch: fake.fetch, clock: () => NOW });
  sources.push(s);
  return s;
}

beforeAll(() => { vi.spyOn(console, 'error').mockImplementation(() => {}); }); // yahoo-finance2 prints the URL of a failed request
afterEach(async () => { await Promise.all(sources.splice(0).map((s) => s.close?.())); });

describe('yahoo source', () => {
  it('maps quotes to ticks after the cookie/crumb handshake, and does not repeat an acknowledged, unchanged quote', async () => {
    const fake = fakeYahoo();
    const src = source({ mode: 'quote', resilience: FAST }, fake);
    const ticks = await src.fetch(['AAPL', 'MSFT'], NOW);
    expect(ticks).toEqual([
      { symbol: 'AAPL', interval: 'tick', eventTime: Date.UTC(2026, 9, 2, 14, 16, 2), open: 331.2, high: 334.54, low: 330.61, close: 331.99, volume: 9034471,
        source: 'yahoo', ingestTime: NOW, quality: 1, adjusted: false },
      { symbol: 'MSFT', interval: 'tick', eventTime: Date.UTC(2026, 9, 2, 14, 16, 1), open: 510.3, high: 512.8, low: 507.1, close: 511.87, volume: 4120554,
        source: 'yahoo', ingestTime: NOW, quality: 1, adjusted: false },
    ]);
    expect(ticks.map((t) => validatePriceUpdate(t, NOW, { maxStalenessMs: 60_000 }))).toEqual([null, null]);
    const quoteUrl = new URL(fake.calls.find((u) => u.includes('/v7/finance/quote')) as string);
    expect(quoteUrl.searchParams.get('symbols')).toBe('AAPL,MSFT');
    expect(quoteUrl.searchParams.get('crumb')).toBe('Mm.oQGSe2By');
    expect(fake.calls.slice(0, 2)).toEqual(['https://finance.yahoo.com/quote/AAPL', 'https://query1.finance.yahoo.com/v1/test/getcrumb']);

    // Not acknowledged yet (the send could have failed): offered again. Once acknowledged: nothing new.
    expect(await src.fetch(['AAPL', 'MSFT'], NOW + 60_000)).toEqual(ticks.map((t) => ({ ...t, ingestTime: NOW + 60_000 })));
    src.acknowledge?.(ticks);
    expect(await src.fetch(['AAPL', 'MSFT'], NOW + 60_000)).toEqual([]); // same regularMarketTime: nothing new
  });

  it('widens a tick\'s session high/low to its price when Yahoo\'s day range lags it (above the high, below the low)', async () => {
    const recorded = fixture('quote-AAPL-MSFT.json');
    const [aapl, msft] = (recorded.response.bodyJson as { quoteResponse: { result: Array<Record<string, number | string>> } }).quoteResponse.result;
    aapl!.regularMarketPrice = 335.1; // day high 334.54
    msft!.regularMarketPrice = 506.5; // day low 507.1
    const { fetch } = fakeYahooFetch((url) => (url.includes('/v7/finance/quote') ? recorded : undefined));
    const src = createYahooSource({ mode: 'quote', resilience: FAST }, { logger, fetch, clock: () => NOW });
    sources.push(src);
    const ticks = await src.fetch(['AAPL', 'MSFT'], NOW);
    expect(ticks.map(({ symbol, open, high, low, close }) => ({ symbol, open, high, low, close }))).toEqual([
      { symbol: 'AAPL', open: 331.2, high: 335.1, low: 330.61, close: 335.1 },
      { symbol: 'MSFT', open: 510.3, high: 512.8, low: 506.5, close: 506.5 },
    ]);
    expect(ticks.map((t) => validatePriceUpdate(t, NOW, { maxStalenessMs: 60_000 }))).toEqual([null, null]);
  });

  it('maps intraday chart bars: only whole, ended bars, skipping empty minutes, never repeating an acknowledged bar', async () => {
    const fake = fakeYahoo();
    const src = source({ mode: 'bars', barInterval: '1m', lookbackMinutes: 20, resilience: FAST }, fake);
    const bars = await src.fetch(['AAPL'], NOW);
    const t0 = Date.UTC(2026, 9, 2, 14, 0);
    expect(bars.map((b) => (b.eventTime - t0) / 60_000)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(bars[0]).toEqual({ symbol: 'AAPL', interval: '1m', eventTime: t0, open: 331.8, high: 331.92, low: 331.71, close: 331.8, volume: 41000,
      source: 'yahoo', ingestTime: NOW, quality: 1, final: true, adjusted: false });
    expect(bars.every((b) => validatePriceUpdate(b, NOW, { maxStalenessMs: 30 * 60_000 }) === null)).toBe(true);
    const chartUrl = new URL(fake.calls.find((u) => u.includes('/v8/finance/chart/AAPL')) as string);
    expect(chartUrl.searchParams.get('interval')).toBe('1m');
    expect(Number(chartUrl.searchParams.get('period1'))).toBe((NOW - 20 * 60_000) / 1000);
    expect(fake.calls.some((u) => u.includes('getcrumb'))).toBe(false); // chart needs no crumb

    expect((await src.fetch(['AAPL'], NOW + 30_000)).map((b) => b.eventTime)).toEqual(bars.map((b) => b.eventTime)); // not acknowledged: again
    src.acknowledge?.(bars);
    expect(await src.fetch(['AAPL'], NOW + 30_000)).toEqual([]);
  });

  it('returns daily history as backfill bars keyed by exchange date, with a missing volume as 0 and lower quality', async () => {
    const fake = fakeYahoo();
    const src = source({ resilience: FAST }, fake);
    const from = Date.UTC(2026, 8, 28);
    const bars = await src.history('MSFT', { from, to: Date.UTC(2026, 9, 3), interval: '1d' });
    // 10-02 had not closed at NOW
    expect(bars.map((b) => new Date(b.eventTime).toISOString().slice(0, 10))).toEqual(['2026-09-28', '2026-09-29', '2026-09-30', '2026-10-01']);
    expect(bars.every((b) => b.source === 'backfill' && b.interval === '1d')).toBe(true);
    expect(bars[3]).toMatchObject({ close: 508.66, volume: 0, quality: QUALITY.filled });
    const url = new URL(fake.calls.find((u) => u.includes('/v8/finance/chart/MSFT')) as string);
    expect(url.searchParams.get('interval')).toBe('1d');
    expect(Number(url.searchParams.get('period1'))).toBe(from / 1000);
  });

  it('asks for 1m history in pieces of at most 7 days (Yahoo refuses more), each bar once', async () => {
    const fake = fakeYahoo();
    const src = source({ resilience: FAST }, fake);
    const from = NOW - 20 * 86_400_000;
    const bars = await src.history('AAPL', { from, to: NOW, interval: '1m' });
    const t0 = Date.UTC(2026, 9, 2, 14, 0);
    // The recorded chart holds the morning's minutes; every piece gets it back, only the last keeps them.
    expect(bars.map((b) => (b.eventTime - t0) / 60_000)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(bars.every((b) => b.source === 'backfill' && b.interval === '1m')).toBe(true);
    const periods = fake.calls.filter((u) => u.includes('/v8/finance/chart/AAPL')).map((u) => new URL(u).searchParams)
      .map((p) => [Number(p.get('period1')) * 1000, Number(p.get('period2')) * 1000]);
    const WEEK = 7 * 86_400_000;
    expect(periods).toEqual([[from, from + WEEK], [from + WEEK, from + 2 * WEEK], [from + 2 * WEEK, NOW]]);
  });

  it('gives a missing volume (filled in as 0) the same lower quality in bars and ticks, and a reported zero volume full quality', async () => {
    const chart = structuredClone(fixture('chart-MSFT-1d.json')) as any;
    chart.response.bodyJson.chart.result[0].indicators.quote[0].volume[1] = 0; // a day Yahoo reports with no shares traded
    const quote = structuredClone(fixture('quote-AAPL-MSFT.json')) as any;
    delete quote.response.bodyJson.quoteResponse.result[1].regularMarketVolume;
    const { fetch } = fakeYahooFetch((url) => (url.includes('/v7/finance/quote') ? quote : url.includes('/v8/finance/chart/') ? chart : undefined));
    const deps = { logger, fetch, clock: () => NOW };
    const range = { from: Date.UTC(2026, 8, 28), to: Date.UTC(2026, 9, 3), interval: '1d' } as const;
    const bars = await createYahooSource({ resilience: FAST }, deps).history!('MSFT', range);
    expect(bars.map((b) => [b.volume, b.quality])).toEqual([[18234400, 1], [0, QUALITY.complete], [16530900, 1], [0, QUALITY.filled]]);
    const ticks = await createYahooSource({ mode: 'quote', resilience: FAST }, deps).fetch(['AAPL', 'MSFT'], NOW);
    expect(ticks.map((t) => [t.symbol, t.volume, t.quality])).toEqual([['AAPL', 9034471, 1], ['MSFT', 0, QUALITY.filled]]);
    expect(QUALITY.filled).toBeLessThan(QUALITY.complete);
  });

  it('retries a 500 with backoff and then succeeds', async () => {
    const fake = fakeYahoo();
    fake.chartScript.push(fixture('error-500.json'));
    const src = source({ resilience: { ...FAST, retries: 3 } }, fake);
    const bars = await src.fetch(['AAPL'], NOW);
    expect(bars).toHaveLength(15);
    expect(fake.chartCalls()).toBe(2);
    expect(src.circuitState()).toBe('closed');
  });

  it('opens the circuit after 5 failures, then fails fast without calling Yahoo', async () => {
    const fake = fakeYahoo();
    fake.failChartsFromNowOn();
    const src = source({ resilience: { ...FAST, retries: 20, failureThreshold: 5, resetTimeoutMs: 60_000 } }, fake);
    await expect(src.fetch(['AAPL'], NOW)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fake.chartCalls()).toBe(5); // retries stop as soon as the circuit opens
    expect(src.circuitState()).toBe('open');
    await expect(src.fetch(['AAPL'], NOW + 60_000)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fake.chartCalls()).toBe(5);
  });

  it('lets a trial call through once the reset timeout passes (half-open) and closes on success', async () => {
    const fake = fakeYahoo();
    fake.failChartsFromNowOn();
    const src = source({ resilience: { ...FAST, retries: 0, failureThreshold: 5, resetTimeoutMs: 50 } }, fake);
    for (let i = 0; i < 5; i++) await expect(src.fetch(['AAPL'], NOW)).rejects.toThrow();
    expect(src.circuitState()).toBe('open');
    await vi.waitFor(() => expect(src.circuitState()).toBe('half-open'), { timeout: 5000, interval: 10 });
    fake.healCharts();
    expect(await src.fetch(['AAPL'], NOW)).toHaveLength(15);
    expect(src.circuitState()).toBe('closed');
  });

  it('does not retry a 404 (unknown symbol), does not count it against the circuit, and keeps the other symbols', async () => {
    const fake = fakeYahoo();
    const src = source({ resilience: { ...FAST, retries: 3, failureThreshold: 2 } }, fake);
    await expect(src.fetch(['NOPE'], NOW)).rejects.toBeInstanceOf(YahooRequestError);
    await expect(src.fetch(['NOPE'], NOW)).rejects.toThrow(/404: No data found, symbol may be delisted/);
    expect(fake.chartCalls()).toBe(2);
    expect(src.circuitState()).toBe('closed');
    const bars = await src.fetch(['AAPL', 'NOPE'], NOW);
    expect(new Set(bars.map((b) => b.symbol))).toEqual(new Set(['AAPL']));
  });
});

describe('yahoo source: a refused crumb', () => {
  it('recovers from a 401 "Invalid Crumb" on the same poll: crumb and cookies cleared, getcrumb asked again, the quote retried once', async () => {
    const fake = fakeYahoo();
    const src = source({ mode: 'quote', resilience: { ...FAST, retries: 3, failureThreshold: 2 } }, fake);
    expect(await src.fetch(['AAPL', 'MSFT'], NOW)).toHaveLength(2);
    expect(fake.crumbs.requests()).toBe(1);

    fake.crumbs.revoke(); // Yahoo no longer honours the crumb yahoo-finance2 has cached (and would keep sending)
    const ticks = await src.fetch(['AAPL', 'MSFT'], NOW + 60_000);
    expect(ticks.map((t) => t.symbol)).toEqual(['AAPL', 'MSFT']);
    expect(fake.crumbs.requests()).toBe(2);
    const [refused, retried] = fake.quoteCalls().slice(-2).map((u) => new URL(u).searchParams.get('crumb'));
    expect([refused, retried]).toEqual([fake.crumbs.issued[0], fake.crumbs.issued[1]]);
    expect(fake.quoteCalls()).toHaveLength(3); // one refused request, one retry: no more
    expect(fake.calls.filter((u) => u.startsWith('https://finance.yahoo.com/quote/'))).toHaveLength(2); // new cookies too
    expect(src.circuitState()).toBe('closed');

    // The new crumb is kept: the next poll neither fails nor asks for another one.
    expect(await src.fetch(['AAPL', 'MSFT'], NOW + 120_000)).toHaveLength(2);
    expect(fake.crumbs.requests()).toBe(2);
  });

  it('opens the circuit when Yahoo keeps refusing fresh crumbs (one retry per poll), and closes it once Yahoo honours them again', async () => {
    const fake = fakeYahoo();
    const src = source({ mode: 'quote', resilience: { ...FAST, retries: 3, failureThreshold: 3, resetTimeoutMs: 50 } }, fake);
    fake.crumbs.refuseNew(true); // every crumb getcrumb hands out is refused

    for (let poll = 1; poll <= 3; poll++) {
      await expect(src.fetch(['AAPL'], NOW)).rejects.toBeInstanceOf(YahooCrumbError);
      expect(fake.quoteCalls()).toHaveLength(2 * poll); // refused, retried with a fresh crumb, refused: not retried again
      expect(fake.crumbs.requests()).toBe(1 + poll);
      expect(src.circuitState()).toBe(poll < 3 ? 'closed' : 'open');
    }
    await expect(src.fetch(['AAPL'], NOW)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fake.quoteCalls()).toHaveLength(6); // open: Yahoo not called

    fake.crumbs.refuseNew(false); // Yahoo honours the crumbs it hands out again
    await vi.waitFor(() => expect(src.circuitState()).toBe('half-open'), { timeout: 5000, interval: 10 });
    expect(await src.fetch(['AAPL'], NOW)).toHaveLength(2); // the trial: refused on the old crumb, then a fresh one is honoured
    expect(src.circuitState()).toBe('closed');
    expect(fake.crumbs.requests()).toBe(5);
  });

  it('still does not count an unknown symbol (404) against the circuit, nor refetch the crumb for it', async () => {
    const fake = fakeYahoo();
    const src = source({ resilience: { ...FAST, failureThreshold: 1 } }, fake);
    for (let i = 0; i < 3; i++) await expect(src.fetch(['NOPE'], NOW)).rejects.toBeInstanceOf(YahooRequestError);
    expect(src.circuitState()).toBe('closed');
    expect(fake.crumbs.requests()).toBe(0); // chart needs no crumb, and a 404 is no reason to fetch one
  });
});

describe('yahoo source: revisions (issue #22)', () => {
  /** The recorded 1m chart with bar `i`'s volume (and close) changed, as Yahoo revises its last minutes. */
  const revised = (i: number, volume: number, close?: number): Recorded => {
    const r = structuredClone(fixture('chart-AAPL-1m.json'));
    const q = (r.response.bodyJson as { chart: { result: Array<{ indicators: { quote: Array<Record<string, Array<number | null>>> } }> } })
      .chart.result[0]!.indicators.quote[0]!;
    q.volume![i] = volume;
    if (close !== undefined) q.close![i] = close;
    return r;
  };
  const t0 = Date.UTC(2026, 9, 2, 14, 0);

  it('republishes a bar Yahoo revised within the lookback (and only that one); the last minutes are provisional until they settle', async () => {
    const fake = fakeYahoo();
    const src = source({ mode: 'bars', barInterval: '1m', lookbackMinutes: 20, settleSeconds: 120, resilience: FAST }, fake);
    const bars = await src.fetch(['AAPL'], NOW);
    // 14:15 ended at 14:16, 5 s before NOW: provisional; 14:13 ended 3 min ago: final.
    expect(bars.filter((b) => b.final === false).map((b) => (b.eventTime - t0) / 60_000)).toEqual([14, 15]);
    src.acknowledge?.(bars);
    fake.chartScript.push(revised(15, 50_000, 332.1)); // 14:15 got late trades
    const again = await src.fetch(['AAPL'], NOW + 10_000);
    expect(again.map((b) => [(b.eventTime - t0) / 60_000, b.volume, b.close, b.final])).toEqual([[15, 50_000, 332.1, false]]);
    src.acknowledge?.(again);
    // Once settled, the last minutes are published final (once), unchanged bars never again.
    const settled = await src.fetch(['AAPL'], NOW + 180_000);
    expect(settled.map((b) => [(b.eventTime - t0) / 60_000, b.final])).toEqual([[14, true], [15, true]]);
    src.acknowledge?.(settled);
    expect(await src.fetch(['AAPL'], NOW + 190_000)).toEqual([]);
  });

  it('after a restart, does not republish the bars read back from the topic unless Yahoo changed them', async () => {
    const fake = fakeYahoo();
    const first = source({ mode: 'bars', barInterval: '1m', lookbackMinutes: 20, resilience: FAST }, fake);
    const published = await first.fetch(['AAPL'], NOW);
    const restarted = source({ mode: 'bars', barInterval: '1m', lookbackMinutes: 20, resilience: FAST }, fake);
    const q = restarted.resumeQuery!(NOW);
    expect(q).toMatchObject({ interval: '1m', values: true });
    expect(q.since).toBeLessThanOrEqual(NOW - 20 * 60_000);
    restarted.resume!(new Map([['AAPL', published.at(-1)!.eventTime]]), new Map([['AAPL', published]]));
    expect(await restarted.fetch(['AAPL'], NOW + 5_000)).toEqual([]);
    fake.chartScript.push(revised(3, 1));
    expect((await restarted.fetch(['AAPL'], NOW + 5_000)).map((b) => [(b.eventTime - t0) / 60_000, b.volume])).toEqual([[3, 1]]);
  });

  it('an outage longer than the lookback is logged (pointing at backfill --gaps) and counted, once; not when the market was closed', async () => {
    const fake = fakeYahoo();
    const gaps: unknown[] = [];
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'warn', format: 'json', destination: { write: (l: string) => { lines.push(JSON.parse(l)); return true; } } as unknown as NodeJS.WritableStream });
    const src = createYahooSource({ mode: 'bars', barInterval: '1m', lookbackMinutes: 15, resilience: FAST },
      { logger: log, fetch: fake.fetch, clock: () => NOW, onGap: (g) => gaps.push(g) });
    sources.push(src);
    // Last published 13:30 UTC (09:30 New York, the open); now 14:16: 14:16 - 15 min = 14:01, the request starts at 14:01:05, so 13:31..14:01 are beyond reach.
    src.resume!(new Map([['AAPL', Date.UTC(2026, 9, 2, 13, 30)]]));
    await src.fetch(['AAPL'], NOW);
    await src.fetch(['AAPL'], NOW);
    expect(gaps).toEqual([{ symbol: 'AAPL', interval: '1m', bars: 31 }]);
    const warn = lines.find((l) => String(l.msg).includes('backfill --gaps'));
    expect(warn).toMatchObject({ symbol: 'AAPL', missed: 31 });
    // Last published at the previous close (Thursday 16:00 New York): the night missed nothing but the first minutes.
    const other = createYahooSource({ mode: 'bars', barInterval: '1m', lookbackMinutes: 15, resilience: FAST },
      { logger, fetch: fake.fetch, clock: () => NOW, onGap: (g) => gaps.push(g) });
    sources.push(other);
    other.resume!(new Map([['AAPL', Date.UTC(2026, 9, 1, 19, 59)]]));
    await other.fetch(['AAPL'], Date.UTC(2026, 9, 2, 13, 40)); // 09:40: reach 09:25, before the open
    expect(gaps).toHaveLength(1);
  });

  it('backfill gives as-traded prices: the chart\'s split-adjusted OHLCV turned back with its split events', () => {
    const bar = { date: new Date(Date.UTC(2020, 7, 28)), open: 125, high: 130, low: 124, close: 128, volume: 4_000_000 };
    const split = { date: new Date(Date.UTC(2020, 7, 31)), numerator: 4, denominator: 1 };
    expect(unadjust(bar, [split])).toEqual({ ...bar, open: 500, high: 520, low: 496, close: 512, volume: 1_000_000 });
    expect(unadjust({ ...bar, date: new Date(Date.UTC(2020, 8, 1)) }, [split]).close).toBe(128); // after the split: as traded already
  });
});
