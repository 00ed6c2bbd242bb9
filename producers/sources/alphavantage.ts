// Alpha Vantage price source (https://www.alphavantage.co/documentation/): completed intraday bars from
// TIME_SERIES_INTRADAY, or quote ticks from GLOBAL_QUOTE, one request per symbol through ../provider-client.ts (the free
// tier's 5 requests per minute and 25 per day, circuit breaker, retries). Its answers are JSON with HTTP 200 whatever
// happened: a rate limit is {"Note": …} or {"Information": …}, a bad call or key {"Error Message": …}.
import { z } from 'zod';
import { ALPHAVANTAGE_FREE_TIER } from '../../lib/config.ts';
import { sessionCloseUtc } from '../../lib/us-session.ts';
import { US_CALENDAR } from '../../lib/calendar.ts';
import { RateLimitedError } from '../../lib/errors.ts';
import { isTimeZone } from '../../lib/time-zone.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { QUALITY } from '../../topics/price-update.ts';
import {
  createProviderClient, createProviderFeed, providerBadRequest, providerClientFields, providerRefused, providerUnavailable, type ProviderClientDeps,
  type ProviderSource, type ProviderSpec,
} from '../provider-client.ts';
import { liveFeedFields, numberField, parseWallTime, publishableBar, tickOf } from './live.ts';


export const alphaVantageConfigSchema = z.object({
  ...liveFeedFields,
  ...providerClientFields({ baseUrl: 'https://www.alphavantage.co', ...ALPHAVANTAGE_FREE_TIER, unit: 'requests', keyVariable: 'ALPHAVANTAGE_API_KEY' }),
  entitlement: z.enum(['none', 'delayed', 'realtime']).default('none')
    .describe('Premium keys: realtime or 15-minute delayed US intraday data (the entitlement parameter); none = what the key gets by default'),
});
export type AlphaVantageConfig = z.output<typeof alphaVantageConfigSchema>;

export type AlphaVantageSource = ProviderSource<'alphavantage'>;

const MINUTE = 60_000;
const HOUR = 3_600_000;

const spec: ProviderSpec = {
  name: 'alphavantage',
  label: 'Alpha Vantage',
  keyVariable: 'ALPHAVANTAGE_API_KEY',
  authorize: (url, _headers, apiKey) => url.searchParams.set('apikey', apiKey),
  problem({ body }, what, now) {
    if (typeof body !== 'object' || body === null) return null;
    const b = body as Record<string, unknown>;
    const note = typeof b.Note === 'string' ? b.Note : typeof b.Information === 'string' ? b.Information : null;
    if (note !== null && /rate limit|call frequency|requests? per|calls? per/i.test(note)) {
      // "standard API call frequency is 5 calls per minute and 500 calls per day" (Note), "standard API rate limit is 25
      // requests per day" (Information). Which window ran out is not said: a message that names only the day waits an
      // hour, any other a minute, before the next call is tried.
      const daily = /per day/i.test(note) && !/per minute/i.test(note);
      return new RateLimitedError('alphavantage', `Alpha Vantage ${what}: rate limit answered (${note.slice(0, 200)})`,
        { until: now + (daily ? HOUR : MINUTE), byProvider: true });
    }
    // Any other "Information" is a refusal of the key or plan (a premium function, a premium interval).
    if (note !== null && typeof b.Information === 'string') return providerRefused(spec, `${what}: ${note.slice(0, 200)}`, null);
    const error = b['Error Message'];
    if (typeof error === 'string') {
      return /apikey|api key/i.test(error) ? providerRefused(spec, `${what}: API key refused (${error.slice(0, 200)})`, null)
        : providerBadRequest(spec, `${what}: ${error.slice(0, 200)}`, null);
    }
    return null;
  },
};

export function createAlphaVantageSource(input: z.input<typeof alphaVantageConfigSchema>, deps: ProviderClientDeps): AlphaVantageSource {
  const config = alphaVantageConfigSchema.parse(input);
  const client = createProviderClient(spec, config, deps);
  const avInterval = config.barInterval === '1m' ? '1min' : '5min';
  return createProviderFeed({ name: 'alphavantage', label: spec.label }, client, config.mode, ({ cursor, reject }) => {

    async function intradayBars(symbol: string, now: number): Promise<PriceUpdate[]> {
      const what = `TIME_SERIES_INTRADAY ${symbol}`;
      const body = await client.get('/query', {
        function: 'TIME_SERIES_INTRADAY', symbol, interval: avInterval, outputsize: 'compact', extended_hours: 'false', datatype: 'json',
        ...(config.entitlement === 'none' ? {} : { entitlement: config.entitlement }),
      }, what) as Record<string, unknown>;
      const series = body[`Time Series (${avInterval})`];
      if (typeof series !== 'object' || series === null) throw providerUnavailable(spec, `${what}: answer has no "Time Series (${avInterval})"`, 200);
      const meta = (body['Meta Data'] ?? {}) as Record<string, unknown>;
      const zone = typeof meta['6. Time Zone'] === 'string' && isTimeZone(meta['6. Time Zone']) ? meta['6. Time Zone'] : 'US/Eastern';
      const out: PriceUpdate[] = [];
      // The stamps are the bars' starts in exchange time (the last bar of a session is stamped 15:59 for 1min).
      for (const [stamp, raw] of Object.entries(series as Record<string, Record<string, unknown>>)) {
        const start = parseWallTime(stamp, zone);
        if (!Number.isFinite(start)) {
          reject({ reason: `${what}: bar time ${JSON.stringify(stamp)} is not YYYY-MM-DD HH:MM:SS`, symbol, raw: { [stamp]: raw } });
          continue;
        }
        if (!publishableBar(config, cursor, symbol, start, now, { lookback: true })) continue;
        const [open, high, low, close, volume] = ['1. open', '2. high', '3. low', '4. close', '5. volume'].map((k) => numberField(raw?.[k]));
        if (open === undefined || high === undefined || low === undefined || close === undefined || volume === undefined) {
          reject({ reason: `${what}: bar ${stamp} lacks a number among open, high, low, close and volume`, symbol, raw: { [stamp]: raw } });
          continue;
        }
        out.push({ symbol, interval: config.barInterval, eventTime: start, open, high, low, close, volume, source: 'alphavantage', ingestTime: now,
          quality: QUALITY.complete });
      }
      return out.sort((a, b) => a.eventTime - b.eventTime);
    }

    async function quote(symbol: string, now: number): Promise<PriceUpdate[]> {
      const what = `GLOBAL_QUOTE ${symbol}`;
      const body = await client.get('/query', { function: 'GLOBAL_QUOTE', symbol, datatype: 'json' }, what) as Record<string, unknown>;
      const q = body['Global Quote'] as Record<string, unknown> | undefined;
      // An unknown symbol answers an empty quote: the request's fault, so the chain may ask the next source.
      if (typeof q !== 'object' || q === null || Object.keys(q).length === 0) throw providerBadRequest(spec, `${what}: no quote for this symbol`, 200);
      const price = numberField(q['05. price']);
      const day = typeof q['07. latest trading day'] === 'string' ? q['07. latest trading day'] : '';
      if (price === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(day)) {
        reject({ reason: `${what}: quote has no price or latest trading day`, symbol, raw: q });
        return [];
      }
      // GLOBAL_QUOTE carries no trade time, only the day: while that day's session trades, the tick is stamped with the
      // second it was fetched; after the close, with the close, so the polls after it repeat nothing.
      const session = US_CALENDAR.session(day);
      const time = session && now >= session.open && now < session.close ? Math.floor(now / 1000) * 1000 : Math.min(sessionCloseUtc(day), now);
      if (!cursor.isNew(symbol, 'tick', time)) return [];
      return [tickOf({ symbol, time, price, open: numberField(q['02. open']), high: numberField(q['03. high']), low: numberField(q['04. low']),
        volume: numberField(q['06. volume']), source: 'alphavantage', now })];
    }

    return { bars: intradayBars, quote };
  });
}
