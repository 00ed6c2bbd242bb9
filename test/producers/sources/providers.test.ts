// The Alpha Vantage and Twelve Data sources against local servers speaking their protocols (test/helpers/fake-markets):
// bars read from their documented answers (Alpha Vantage's US/Eastern stamps, Twelve Data's UTC ones), only complete
// bars, nothing twice once acknowledged; quote ticks; each error shape read as what it is: a rate limit (Alpha Vantage's
// "Note"/"Information" with HTTP 200, Twelve Data's code 429) blocks the source without a retry and without touching the
// circuit, a refused key opens the circuit, an unknown symbol fails that symbol alone, a 5xx or a refused connection is
// retried and counted; their free tiers are never exceeded (counted at the servers); the API key never shows in a log
// line or an error message, and Twelve Data's never in a URL.
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError, RateLimitedError } from '../../../lib/errors.ts';
import { createLogger } from '../../../lib/logger.ts';
import type { ResilienceConfig } from '../../../lib/resilience.ts';
import { createAlphaVantageSource } from '../../../producers/sources/alphavantage.ts';
import { createTwelveDataSource } from '../../../producers/sources/twelvedata.ts';
import type { PriceFeed, SourceHealth } from '../../../producers/sources/types.ts';
import { FAKE_KEYS, marketBar, peakInWindow, sessionTime, startFakeMarket, type FakeMarket, type Provider } from '../../helpers/fake-markets.ts';

const MINUTE = 60_000;
const FAST: Partial<ResilienceConfig> = { ratePerSecond: 1000, maxConcurrent: 4, retries: 2, minBackoffMs: 1, maxBackoffMs: 2, failureThreshold: 3,
  resetTimeoutMs: 60_000 };

const lines: string[] = [];
const logger = createLogger({ level: 'trace', destination: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) });

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMD', 'INTC', 'ORCL', 'CRM', 'ADBE', 'AVGO'];
let market: FakeMarket;
const sources: PriceFeed[] = [];
/** A fresh market for each test (the servers count every client's calls against their limits). */
const useMarket = async (o: Parameters<typeof startFakeMarket>[0] = {}) => {
  await market?.close();
  market = await startFakeMarket({ symbols: SYMBOLS, ...o });
};
beforeEach(() => useMarket());
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close?.()));
  // No client ever passed a limit: the servers never had to say so on their own.
  expect(market.rateLimitAnswers()).toEqual([]);
  await market.close();
});
afterAll(() => {
  // Whatever happened above, no log line carried a key.
  for (const key of Object.values(FAKE_KEYS)) expect(lines.filter((l) => l.includes(key))).toEqual([]);
  expect(lines.length).toBeGreaterThan(0);
});

type Make = (o?: Record<string, unknown>) => PriceFeed & { health(): SourceHealth };
const makers: Record<'alphavantage' | 'twelvedata', Make> = {
  alphavantage: (o = {}) => createAlphaVantageSource({ apiKey: FAKE_KEYS.alphavantage, baseUrl: market.alphavantage.url, resilience: FAST, ...o }, { logger }),
  twelvedata: (o = {}) => createTwelveDataSource({ apiKey: FAKE_KEYS.twelvedata, baseUrl: market.twelvedata.url, resilience: FAST, ...o }, { logger }),
};
const make = (provider: 'alphavantage' | 'twelvedata', o?: Record<string, unknown>) => {
  const s = makers[provider](o);
  sources.push(s);
  return s;
};
const callsSince = (provider: Provider, n: number) => market[provider].calls.slice(n);
const errorOf = async (p: Promise<unknown>) => p.then(() => { throw new Error('did not fail'); }, (err: unknown) => err);

describe.each(['alphavantage', 'twelvedata'] as const)('%s source', (provider) => {
  it('publishes the complete 1m bars of the look-back, as the provider reports them, and nothing twice once acknowledged', async () => {
    market.now = sessionTime(30, 5); // 10:30:05 New York: the 10:30 bar is in progress
    const src = make(provider);
    const first = await src.fetch(['AAPL', 'MSFT'], market.now);
    const starts = Array.from({ length: 14 }, (_, i) => sessionTime(16 + i)); // 10:16 … 10:29: the 15 minutes back from 10:30:05
    expect(first.filter((b) => b.symbol === 'AAPL').map((b) => b.eventTime)).toEqual(starts);
    const expected = marketBar('AAPL', sessionTime(29), provider);
    expect(first.find((b) => b.symbol === 'AAPL' && b.eventTime === sessionTime(29))).toEqual({
      symbol: 'AAPL', interval: '1m', eventTime: sessionTime(29), open: expected.open, high: expected.high, low: expected.low, close: expected.close,
      volume: expected.volume, source: provider, ingestTime: market.now, quality: 1,
    });
    src.acknowledge!(first);
    market.now = sessionTime(32, 1);
    expect((await src.fetch(['AAPL', 'MSFT'], market.now)).map((b) => [b.symbol, b.eventTime])).toEqual([
      ['AAPL', sessionTime(30)], ['AAPL', sessionTime(31)], ['MSFT', sessionTime(30)], ['MSFT', sessionTime(31)],
    ]);
    const [call] = callsSince(provider, market[provider].calls.length - 1);
    if (provider === 'alphavantage') {
      expect(Object.fromEntries(call!.query)).toEqual({ function: 'TIME_SERIES_INTRADAY', symbol: 'MSFT', interval: '1min', outputsize: 'compact',
        extended_hours: 'false', datatype: 'json', apikey: FAKE_KEYS.alphavantage });
    } else {
      // The key travels in the Authorization header, never in the URL.
      expect(Object.fromEntries(call!.query)).toEqual({ symbol: 'MSFT', interval: '1min', outputsize: '16', timezone: 'UTC', format: 'JSON' });
      expect(call!.headers.authorization).toBe(`apikey ${FAKE_KEYS.twelvedata}`);
    }
  });

  it('quote mode: one tick per symbol, its day range taking in the price', async () => {
    market.now = sessionTime(45, 12);
    const src = make(provider, { mode: 'quote' });
    const [tick] = await src.fetch(['NVDA'], market.now);
    const last = marketBar('NVDA', sessionTime(45), provider); // the bar in progress: its close is the last price
    expect(tick).toMatchObject({ symbol: 'NVDA', interval: 'tick', close: last.close, source: provider, quality: 1 });
    expect(tick!.high).toBeGreaterThanOrEqual(Math.max(tick!.open, tick!.close));
    expect(tick!.low).toBeLessThanOrEqual(Math.min(tick!.open, tick!.close));
    // Alpha Vantage's quote has no trade time: stamped with the second it was fetched; Twelve Data's last minute candle.
    expect(tick!.eventTime).toBe(provider === 'alphavantage' ? sessionTime(45, 12) : sessionTime(45));
    src.acknowledge!([tick!]);
    expect(await src.fetch(['NVDA'], market.now)).toEqual([]); // the same tick is not offered again
  });

  it('the provider saying "too many" blocks the source for a minute: no retry, no further request, the circuit untouched', async () => {
    market.now = sessionTime(50);
    const src = make(provider);
    market[provider].fail = 'rate-limited';
    const before = market[provider].calls.length;
    const err = await errorOf(src.fetch(['AAPL'], market.now));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).byProvider).toBe(true);
    expect((err as Error).message).toMatch(provider === 'alphavantage' ? /Alpha Vantage TIME_SERIES_INTRADAY AAPL: rate limit answered \(Thank you/
      : /Twelve Data time_series AAPL: rate limit answered \(You have run out of API credits for the current minute/);
    expect(callsSince(provider, before)).toHaveLength(1); // not retried
    market[provider].fail = 'ok';
    const health = src.health();
    expect(health).toMatchObject({ circuit: 'closed', available: false, reason: expect.stringMatching(/^rate limit reached; next call at /) });
    expect(Date.parse(health.rateLimit!.blockedUntil!) - Date.now()).toBeGreaterThan(55_000);
    await expect(src.fetch(['AAPL'], market.now)).rejects.toBeInstanceOf(RateLimitedError);
    expect(callsSince(provider, before)).toHaveLength(1); // blocked: nothing sent
  });

  it('never passes its free tier: the calls that do not fit fail their symbols without a request', async () => {
    market.now = sessionTime(55);
    const limit = provider === 'alphavantage' ? 5 : 8;
    const src = make(provider);
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMD', 'INTC', 'ORCL', 'CRM', 'ADBE', 'AVGO'];
    const before = market[provider].calls.length;
    const bars = await src.fetch(symbols, market.now);
    const failed = src.takeFailedSymbols!();
    expect(failed).toHaveLength(symbols.length - limit);
    expect(new Set(bars.map((b) => b.symbol)).size).toBe(limit);
    await expect(src.fetch(['AAPL'], market.now + MINUTE)).rejects.toThrow(new RegExp(`${limit} calls per minute used`));
    expect(callsSince(provider, before)).toHaveLength(limit);
    expect(src.health()).toMatchObject({ available: false, rateLimit: { windows: [{ label: 'per minute', limit, used: limit }, { label: 'per day' }] } });
    expect(peakInWindow(market[provider].calls, MINUTE)).toBeLessThanOrEqual(limit);
  });

  it('a refused key is not retried but opens the circuit; an unknown symbol fails alone and leaves it closed', async () => {
    await useMarket({ limits: { alphavantage: { perMinute: 100, perDay: 100 }, twelvedata: { perMinute: 100, perDay: 100 } } });
    market.now = sessionTime(58);
    const src = make(provider, { callsPerMinute: 0, callsPerDay: 0 });
    const before = market[provider].calls.length;
    for (let i = 0; i < 5; i++) {
      expect(await src.fetch(['AAPL', 'NOPE'], market.now)).not.toEqual([]);
      expect(src.takeFailedSymbols!()).toEqual(['NOPE']);
    }
    expect(src.health().circuit).toBe('closed');
    expect(callsSince(provider, before)).toHaveLength(10); // an unknown symbol is not retried
    market[provider].fail = 'bad-key';
    const err = await errorOf(src.fetch(['AAPL'], market.now));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'PROVIDER_REFUSED', retriable: false, countsAgainstCircuit: true });
    await errorOf(src.fetch(['AAPL', 'MSFT'], market.now));
    expect(src.health()).toMatchObject({ circuit: 'open', available: false, reason: 'circuit open' });
    expect(callsSince(provider, before)).toHaveLength(13); // one each, no retries
    await expect(src.fetch(['AAPL'], market.now)).rejects.toThrow(/circuit for .* is open/);
  });

  it('a 5xx or a refused connection is retried, and counts against the circuit', async () => {
    market.now = sessionTime(59);
    const src = make(provider, { callsPerMinute: 0, callsPerDay: 0, resilience: { ...FAST, failureThreshold: 6 } });
    market[provider].fail = 'server-error';
    const before = market[provider].calls.length;
    const err = await errorOf(src.fetch(['AAPL'], market.now));
    expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retriable: true, status: provider === 'alphavantage' ? 503 : 500 });
    expect(callsSince(provider, before)).toHaveLength(3); // two retries
    market[provider].fail = 'ok';
    await market[provider].stop();
    const refused = await errorOf(src.fetch(['AAPL'], market.now));
    expect((refused as Error).message).toMatch(/(Alpha Vantage|Twelve Data) \S+ AAPL: no answer \(ECONNREFUSED\)/);
    expect(src.health().circuit).toBe('open'); // 3 + 3 failures in a row
    for (const e of [err, refused]) {
      for (const key of Object.values(FAKE_KEYS)) expect(JSON.stringify({ m: (e as Error).message, s: (e as Error).stack })).not.toContain(key);
    }
  });

  it('without an API key: unavailable, and nothing is sent', async () => {
    const src = make(provider, { apiKey: '' });
    const before = market[provider].calls.length;
    const keyVariable = provider === 'alphavantage' ? 'ALPHAVANTAGE_API_KEY' : 'TWELVEDATA_API_KEY';
    expect(src.health()).toMatchObject({ available: false, reason: `no API key (${keyVariable})` });
    await expect(src.fetch(['AAPL'], market.now)).rejects.toThrow(new RegExp(`no API key \\(set ${keyVariable}\\)`));
    expect(callsSince(provider, before)).toHaveLength(0);
  });
});

describe('rate-limit answers that name the day', () => {
  it('Alpha Vantage\'s "25 requests per day" waits an hour; Twelve Data\'s "for the day" until midnight UTC', async () => {
    // Servers whose daily limit is one call, and clients whose own limits are off: the second call meets the servers' answer.
    await useMarket({ limits: { alphavantage: { perMinute: 100, perDay: 1 }, twelvedata: { perMinute: 100, perDay: 1 } } });
    market.now = sessionTime(5);
    const av = make('alphavantage', { callsPerMinute: 0, callsPerDay: 0 });
    const td = make('twelvedata', { callsPerMinute: 0, callsPerDay: 0 });
    for (const s of [av, td]) await s.fetch(['AAPL'], market.now);
    const t0 = Date.now();
    const avErr = await errorOf(av.fetch(['AAPL'], market.now)) as RateLimitedError;
    const tdErr = await errorOf(td.fetch(['AAPL'], market.now)) as RateLimitedError;
    expect(avErr.message).toMatch(/25 requests per day/);
    expect(avErr.until - t0).toBeGreaterThanOrEqual(60 * MINUTE - 1000);
    expect(avErr.until - t0).toBeLessThanOrEqual(60 * MINUTE + 1000);
    expect(tdErr.message).toMatch(/for the day/);
    expect(new Date(tdErr.until).toISOString()).toMatch(/T00:00:00.000Z$/);
    expect(tdErr.until - t0).toBeLessThanOrEqual(86_400_000);
    expect(av.health().available).toBe(false);
    expect(td.health().available).toBe(false);
    market.alphavantage.limited.length = 0; // forced on purpose: not a client passing its limit
    market.twelvedata.limited.length = 0;
  });
});
