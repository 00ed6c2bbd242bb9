// Local HTTP servers speaking the market-data providers' protocols, for the price source tests (the real services are
// outside and rate-limited): Yahoo's chart API with its cookie/crumb handshake (reached through yahoo-finance2's fetch
// hook, which sends its https://*.yahoo.com requests here), Alpha Vantage's /query (TIME_SERIES_INTRADAY, GLOBAL_QUOTE)
// and Twelve Data's /time_series and /quote, with their documented answers and error shapes. Each serves the same
// market: bars that are a pure function of (symbol, minute), each provider's close a few cents apart so a stored row
// tells who produced it. A shared virtual clock (`market.now`) says which bars exist. Every request is recorded with
// its real time; each server can be told to fail (`fail`), or stopped (connection refused) and started again on its port.
// Like the real providers, Alpha Vantage and Twelve Data enforce their free tier's limits (answering their rate-limit
// shapes), so a test can see that no client ever went past them.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { wallTimeToUtc, zoneOffsetMs } from '../../lib/time-zone.ts';
import { yahooFixture } from './fake-yahoo.ts';

export type Provider = 'yahoo' | 'alphavantage' | 'twelvedata';
const PROVIDERS: readonly Provider[] = ['yahoo', 'alphavantage', 'twelvedata'];
const MINUTE = 60_000;
const EASTERN = 'America/New_York';

export interface Bar { start: number; open: number; high: number; low: number; close: number; volume: number }

/** The market every server serves: the 1m bar of `symbol` starting at `start` as `provider` reports it. */
export function marketBar(symbol: string, start: number, provider: Provider): Bar {
  const h = createHash('sha256').update(`${symbol}:${start}`).digest();
  const base = 100 + (h.readUInt16BE(0) % 5000) / 100;
  const open = Math.round(base * 100) / 100;
  const close = Math.round((base + ((h.readUInt16BE(2) % 200) - 100) / 100 + 0.01 * PROVIDERS.indexOf(provider)) * 100) / 100;
  const high = Math.round((Math.max(open, close) + (h[4]! % 50) / 100) * 100) / 100;
  const low = Math.round((Math.min(open, close) - (h[5]! % 50) / 100) * 100) / 100;
  return { start, open, high, low, close, volume: 1000 + h.readUInt16BE(6) };
}

export interface RecordedCall { at: number; provider: Provider; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders }

/** How a server answers for now: normally, or with a failure of its API (each server says it its own way). */
export type Failure = 'ok' | 'rate-limited' | 'server-error' | 'bad-key';

export interface FakeServer {
  readonly provider: Provider;
  readonly url: string;
  readonly calls: RecordedCall[];
  /** Data requests (not the crumb handshake) answered with data. */
  dataCalls(): RecordedCall[];
  /** Calls it answered with its rate-limit answer because its own limit was passed (not because of `fail`). */
  readonly limited: RecordedCall[];
  fail: Failure;
  /** Stops listening: connections are refused until start(). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

export interface FakeMarket {
  /** The time that decides which bars exist: the real clock until set. */
  now: number;
  yahoo: FakeServer;
  alphavantage: FakeServer;
  twelvedata: FakeServer;
  /** yahoo-finance2's fetch hook: its https://*.yahoo.com requests go to the local Yahoo server. */
  yahooFetch: typeof fetch;
  /** The answers Alpha Vantage and Twelve Data gave because their limit was passed (a well-behaved client causes none; `fail` ones aside). */
  rateLimitAnswers(): RecordedCall[];
  close(): Promise<void>;
}

export const FAKE_KEYS = { alphavantage: 'av-test-key-123', twelvedata: 'td-test-key-456' } as const;

type Answer = { status: number; body: unknown; headers?: Record<string, string | string[]> };
type Handler = (call: RecordedCall) => Answer;

/**
 * Listens on `port`, or on a free one below the ephemeral range (32768 and up on Linux) when none is given: a stopped
 * server's port must stay refused, and a port that listen(0) handed out could go to another test's server meanwhile.
 */
async function listen(server: http.Server, port?: number): Promise<number> {
  const attempt = (p: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  if (port !== undefined) {
    await attempt(port);
    return port;
  }
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      await attempt(p);
      return p;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
    }
  }
}

type Served = FakeServer;

async function startServer(provider: Provider, handler: (s: Served) => Handler): Promise<Served> {
  const calls: RecordedCall[] = [];
  const data: RecordedCall[] = [];
  let server: http.Server | null = null;
  let port: number | undefined;
  const self: Served = {
    provider, calls, limited: [], fail: 'ok', url: '',
    dataCalls: () => data,
    async stop() {
      const s = server;
      server = null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (server) return;
      server = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://local');
        const call: RecordedCall = { at: Date.now(), provider, path: url.pathname, query: url.searchParams, headers: req.headers };
        calls.push(call);
        const answer = answerOf(call);
        if (answer.status === 200 && !isErrorBody(answer.body) && !url.pathname.includes('getcrumb') && !url.pathname.startsWith('/quote/')) data.push(call);
        const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json', ...answer.headers });
        res.end(body);
      });
      port = await listen(server, port);
      (self as { url: string }).url = `http://127.0.0.1:${port}`;
    },
  };
  const answerOf = handler(self);
  await self.start();
  return self;
}

const isErrorBody = (b: unknown) => typeof b === 'object' && b !== null
  && ('Note' in b || 'Information' in b || 'Error Message' in b || (b as { status?: unknown }).status === 'error');

/** Calls in the sliding window of `ms` ending at each call: the most there ever were (what a provider's limit counts). */
export function peakInWindow(calls: readonly { at: number }[], ms: number): number {
  const times = calls.map((c) => c.at).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[j]! <= times[i]! - ms) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

/** Wall time of `t` in New York as AV writes it: "2026-10-02 10:05:00". */
function easternStamp(t: number): string {
  return new Date(t + zoneOffsetMs(t, EASTERN)).toISOString().slice(0, 19).replace('T', ' ');
}
const utcStamp = (t: number) => new Date(t).toISOString().slice(0, 19).replace('T', ' ');
const fixed = (n: number) => n.toFixed(4);

type Limit = { perMinute: number; perDay: number };

export async function startFakeMarket(o: { limits?: { alphavantage?: Limit; twelvedata?: Limit }; symbols?: readonly string[] } = {}): Promise<FakeMarket> {
  // The real clock until a test sets one.
  let fixedNow: number | null = null;
  const market = { get now() { return fixedNow ?? Date.now(); } };
  const known = (s: string) => !o.symbols || o.symbols.includes(s);
  /** Completed-or-in-progress 1m bars of `symbol` from `from` up to the virtual now. */
  const barsUpTo = (symbol: string, provider: Provider, count: number, until = market.now) => {
    const last = Math.floor(until / MINUTE) * MINUTE;
    return Array.from({ length: count }, (_, i) => marketBar(symbol, last - (count - 1 - i) * MINUTE, provider));
  };
  const overLimit = (server: Served, call: RecordedCall, limit: { perMinute: number; perDay: number }) => {
    const answered = server.calls.filter((c) => c !== call && !server.limited.includes(c) && !c.path.includes('getcrumb'));
    const inMinute = answered.filter((c) => c.at > call.at - MINUTE).length;
    const inDay = answered.filter((c) => c.at > call.at - 86_400_000).length;
    return inMinute >= limit.perMinute ? 'minute' : inDay >= limit.perDay ? 'day' : null;
  };

  const yahoo = await startServer('yahoo', (self) => (call) => {
    if (call.path.startsWith('/quote/')) return { status: 200, body: '<html></html>', headers: yahooFixture('getCrumb-quote-AAPL.json').response.headers };
    if (call.path === '/v1/test/getcrumb') return { status: 200, body: yahooFixture('getCrumb-getcrumb.json').response.bodyText! };
    const chart = /^\/v8\/finance\/chart\/([^/]+)$/.exec(call.path);
    if (!chart) return { status: 404, body: { error: 'not routed' } };
    if (self.fail === 'rate-limited') return { status: 429, body: 'Too Many Requests' };
    if (self.fail !== 'ok') return { status: 500, body: '<html><body>Internal Server Error</body></html>' };
    const symbol = decodeURIComponent(chart[1]!);
    if (!known(symbol)) {
      return { status: 404, body: { chart: { result: null, error: { code: 'Not Found', description: 'No data found, symbol may be delisted' } } } };
    }
    const from = Number(call.query.get('period1')) * 1000;
    const to = Math.min(Number(call.query.get('period2')) * 1000, market.now);
    const bars = barsUpTo(symbol, 'yahoo', Math.max(0, Math.floor(to / MINUTE) - Math.ceil(from / MINUTE) + 1), to);
    const meta = { ...(yahooFixture('chart-AAPL-1m.json').response.bodyJson as { chart: { result: Array<{ meta: Record<string, unknown> }> } })
      .chart.result[0]!.meta, symbol, regularMarketTime: Math.floor(market.now / 1000) };
    return {
      status: 200,
      body: { chart: { error: null, result: [{
        meta, timestamp: bars.map((b) => b.start / 1000),
        indicators: { quote: [{ open: bars.map((b) => b.open), high: bars.map((b) => b.high), low: bars.map((b) => b.low),
          close: bars.map((b) => b.close), volume: bars.map((b) => b.volume) }] },
      }] } },
    };
  });

  const avLimit = o.limits?.alphavantage ?? { perMinute: 5, perDay: 25 };
  const av = await startServer('alphavantage', (self) => (call) => {
    if (call.path !== '/query') return { status: 404, body: '{}' };
    const limited = overLimit(self, call, avLimit);
    if (self.fail === 'rate-limited' || limited) {
      if (limited) self.limited.push(call);
      return { status: 200, body: limited === 'minute' || self.fail === 'rate-limited'
        ? { Note: 'Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit '
          + 'https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency.' }
        : { Information: 'Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. Please subscribe to any of the premium '
          + 'plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits.' } };
    }
    if (self.fail === 'server-error') return { status: 503, body: '<html>Service Unavailable</html>' };
    if (self.fail === 'bad-key' || call.query.get('apikey') !== FAKE_KEYS.alphavantage) {
      return { status: 200, body: { 'Error Message': 'the parameter apikey is invalid or missing. Please claim your free API key on '
        + '(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds.' } };
    }
    const fn = call.query.get('function');
    const symbol = call.query.get('symbol') ?? '';
    if (!known(symbol)) {
      return { status: 200, body: fn === 'GLOBAL_QUOTE' ? { 'Global Quote': {} }
        : { 'Error Message': `Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for ${fn}.` } };
    }
    if (fn === 'GLOBAL_QUOTE') {
      const bars = barsUpTo(symbol, 'alphavantage', 30);
      const last = bars.at(-1)!;
      const day = easternStamp(market.now).slice(0, 10);
      return { status: 200, body: { 'Global Quote': {
        '01. symbol': symbol, '02. open': fixed(bars[0]!.open), '03. high': fixed(Math.max(...bars.map((b) => b.high))),
        '04. low': fixed(Math.min(...bars.map((b) => b.low))), '05. price': fixed(last.close), '06. volume': String(bars.reduce((n, b) => n + b.volume, 0)),
        '07. latest trading day': day, '08. previous close': fixed(bars[0]!.open), '09. change': '0.0000', '10. change percent': '0.0000%',
      } } };
    }
    if (fn !== 'TIME_SERIES_INTRADAY' || call.query.get('interval') !== '1min') {
      const message = `Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for ${fn}.`;
      return { status: 200, body: { 'Error Message': message } };
    }
    // compact: the latest 100 bars, newest first, stamped with their start in US/Eastern; the newest may be in progress.
    const bars = barsUpTo(symbol, 'alphavantage', 100).reverse();
    return { status: 200, body: {
      'Meta Data': { '1. Information': 'Intraday (1min) open, high, low, close prices and volume', '2. Symbol': symbol,
        '3. Last Refreshed': easternStamp(bars[0]!.start), '4. Interval': '1min', '5. Output Size': 'Compact', '6. Time Zone': 'US/Eastern' },
      'Time Series (1min)': Object.fromEntries(bars.map((b) => [easternStamp(b.start), {
        '1. open': fixed(b.open), '2. high': fixed(b.high), '3. low': fixed(b.low), '4. close': fixed(b.close), '5. volume': String(b.volume) }])),
    } };
  });

  const tdLimit = o.limits?.twelvedata ?? { perMinute: 8, perDay: 800 };
  const td = await startServer('twelvedata', (self) => (call) => {
    const limited = overLimit(self, call, tdLimit);
    if (self.fail === 'rate-limited' || limited) {
      if (limited) self.limited.push(call);
      const period = limited === 'day' ? 'for the day' : 'for the current minute';
      return { status: 429, body: { code: 429, status: 'error', message: `You have run out of API credits ${period}. 9 API credits were used, with the `
        + 'current limit being 8. Wait for the next minute or consider switching to a higher tier plan at https://twelvedata.com/pricing' } };
    }
    if (self.fail === 'server-error') return { status: 500, body: { code: 500, status: 'error', message: 'Internal server error' } };
    if (self.fail === 'bad-key' || call.headers.authorization !== `apikey ${FAKE_KEYS.twelvedata}`) {
      return { status: 401, body: { code: 401, status: 'error', message: '**apikey** parameter is incorrect or not specified. You can get your free API '
        + 'key instantly following this link: https://twelvedata.com/pricing. If you believe that everything is correct, you can contact us at '
        + 'https://twelvedata.com/contact/customer' } };
    }
    const symbol = call.query.get('symbol') ?? '';
    if (!known(symbol)) {
      return { status: 400, body: { code: 400, status: 'error', message: `**symbol** not found: ${symbol}. Please specify it correctly according to API `
        + 'Documentation.', meta: { symbol, interval: call.query.get('interval') ?? '', exchange: '' } } };
    }
    if (call.path === '/quote') {
      const bars = barsUpTo(symbol, 'twelvedata', 30);
      const last = bars.at(-1)!;
      return { status: 200, body: { symbol, name: symbol, exchange: 'NASDAQ', mic_code: 'XNGS', currency: 'USD',
        datetime: utcStamp(market.now).slice(0, 10), timestamp: Math.floor(bars[0]!.start / 1000), last_quote_at: Math.floor(last.start / 1000),
        open: String(bars[0]!.open), high: String(Math.max(...bars.map((b) => b.high))), low: String(Math.min(...bars.map((b) => b.low))),
        close: String(last.close), volume: String(bars.reduce((n, b) => n + b.volume, 0)), previous_close: String(bars[0]!.open), change: '0',
        percent_change: '0', is_market_open: true } };
    }
    if (call.path !== '/time_series') return { status: 404, body: { code: 404, status: 'error', message: 'Not found' } };
    const size = Math.min(Number(call.query.get('outputsize') ?? '30'), 5000);
    const utc = call.query.get('timezone') === 'UTC';
    const stamp = (t: number) => (utc ? utcStamp(t) : easternStamp(t));
    const bars = barsUpTo(symbol, 'twelvedata', size).reverse(); // newest first, like the API's default order
    return { status: 200, body: {
      meta: { symbol, interval: '1min', currency: 'USD', exchange_timezone: EASTERN, exchange: 'NASDAQ', mic_code: 'XNGS', type: 'Common Stock' },
      values: bars.map((b) => ({ datetime: stamp(b.start), open: fixed(b.open), high: fixed(b.high), low: fixed(b.low), close: fixed(b.close),
        volume: String(b.volume) })),
      status: 'ok',
    } };
  });

  const yahooFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const original = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const local = new URL(`${original.pathname}${original.search}`, yahoo.url);
    return globalThis.fetch(local, { ...init, redirect: 'manual' });
  }) as typeof fetch;

  const servers = { yahoo, alphavantage: av, twelvedata: td };
  return {
    get now() { return market.now; },
    set now(t: number) { fixedNow = t; },
    ...servers,
    yahooFetch,
    rateLimitAnswers: () => [...av.limited, ...td.limited],
    async close() { await Promise.all(Object.values(servers).map((s) => s.stop())); },
  };
}

/** An instant during a New York session: `minute` minutes after 10:00 on 2026-10-02 (a Friday). */
export function sessionTime(minute: number, second = 0): number {
  return wallTimeToUtc(Date.UTC(2026, 9, 2, 10, 0, second), EASTERN) + minute * MINUTE;
}
