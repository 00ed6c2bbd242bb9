// Twelve Data price source (https://twelvedata.com/docs): completed intraday bars from /time_series (asked in UTC), or
// quote ticks from /quote, one request (one API credit) per symbol through ../provider-client.ts (the Basic plan's 8
// credits per minute and 800 per day, circuit breaker, retries). The key travels in the Authorization header, never in
// a URL. An error is {"status":"error","code":429,"message":…}, with HTTP 200 or the code as the status.
import { z } from 'zod';
import { TWELVEDATA_FREE_TIER } from '../../lib/config.ts';
import { RateLimitedError } from '../../lib/errors.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { intervalMs, QUALITY } from '../../topics/price-update.ts';
import {
  createProviderClient, createProviderFeed, providerBadRequest, providerClientFields, providerRefused, providerUnavailable, type ProviderClientDeps,
  type ProviderSource, type ProviderSpec,
} from '../provider-client.ts';
import { liveFeedFields, numberField, parseWallTime, publishableBar, tickOf } from './live.ts';


export const twelveDataConfigSchema = z.object({
  ...liveFeedFields,
  ...providerClientFields({ baseUrl: 'https://api.twelvedata.com', ...TWELVEDATA_FREE_TIER, unit: 'API credits', keyVariable: 'TWELVEDATA_API_KEY' }),
});
export type TwelveDataConfig = z.output<typeof twelveDataConfigSchema>;

export type TwelveDataSource = ProviderSource<'twelvedata'>;

const MINUTE = 60_000;
const DAY = 86_400_000;

const spec: ProviderSpec = {
  name: 'twelvedata',
  label: 'Twelve Data',
  keyVariable: 'TWELVEDATA_API_KEY',
  authorize: (_url, headers, apiKey) => headers.set('authorization', `apikey ${apiKey}`),
  problem({ status, body }, what, now) {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (b.status !== 'error') return null;
    const code = typeof b.code === 'number' ? b.code : status;
    const message = typeof b.message === 'string' ? b.message.slice(0, 200) : 'error';
    if (code === 429) {
      // "You have run out of API credits for the current minute" / "… for the day": the day's credits come back at
      // midnight UTC, a minute's within the minute.
      const until = /for the day|daily/i.test(message) ? Math.ceil((now + 1) / DAY) * DAY : now + MINUTE;
      return new RateLimitedError('twelvedata', `Twelve Data ${what}: rate limit answered (${message})`, { until, byProvider: true });
    }
    if (code === 401 || code === 403) return providerRefused(spec, `${what}: ${code} ${message}`, code);
    if (code >= 500) return providerUnavailable(spec, `${what}: ${code} ${message}`, code);
    return providerBadRequest(spec, `${what}: ${code} ${message}`, code); // 400 "symbol not found", 404, 414
  },
};

export function createTwelveDataSource(input: z.input<typeof twelveDataConfigSchema>, deps: ProviderClientDeps): TwelveDataSource {
  const config = twelveDataConfigSchema.parse(input);
  const client = createProviderClient(spec, config, deps);
  const tdInterval = config.barInterval === '1m' ? '1min' : '5min';
  // Enough bars to cover the look-back, plus the one in progress.
  const outputsize = Math.min(5000, Math.ceil((config.lookbackMinutes * MINUTE) / intervalMs(config.barInterval)) + 1);
  return createProviderFeed({ name: 'twelvedata', label: spec.label }, client, config.mode, ({ cursor, reject }) => {
    async function intradayBars(symbol: string, now: number): Promise<PriceUpdate[]> {
      const what = `time_series ${symbol}`;
      const body = await client.get('/time_series', { symbol, interval: tdInterval, outputsize: String(outputsize), timezone: 'UTC', format: 'JSON' },
        what) as Record<string, unknown>;
      if (!Array.isArray(body.values)) throw providerUnavailable(spec, `${what}: answer has no "values"`, 200);
      const out: PriceUpdate[] = [];
      for (const raw of body.values as Array<Record<string, unknown>>) {
        const stamp = typeof raw?.datetime === 'string' ? raw.datetime : '';
        const start = parseWallTime(stamp, 'UTC'); // asked with timezone=UTC; a bar's datetime is its start
        if (!Number.isFinite(start)) {
          reject({ reason: `${what}: bar datetime ${JSON.stringify(stamp)} is not YYYY-MM-DD HH:MM:SS`, symbol, raw });
          continue;
        }
        if (!publishableBar(config, cursor, symbol, start, now, { lookback: true })) continue;
        const [open, high, low, close] = [raw.open, raw.high, raw.low, raw.close].map(numberField);
        const volume = numberField(raw.volume);
        if (open === undefined || high === undefined || low === undefined || close === undefined) {
          reject({ reason: `${what}: bar ${stamp} lacks a number among open, high, low and close`, symbol, raw });
          continue;
        }
        out.push({ symbol, interval: config.barInterval, eventTime: start, open, high, low, close, volume: volume ?? 0, source: 'twelvedata',
          ingestTime: now, quality: volume === undefined ? QUALITY.filled : QUALITY.complete });
      }
      return out.sort((a, b) => a.eventTime - b.eventTime);
    }

    async function quote(symbol: string, now: number): Promise<PriceUpdate[]> {
      const what = `quote ${symbol}`;
      const q = await client.get('/quote', { symbol, format: 'JSON' }, what) as Record<string, unknown>;
      const price = numberField(q.close);
      // last_quote_at: the last minute candle's time; timestamp: the start of the quote's (daily) candle.
      const seconds = numberField(q.last_quote_at) ?? numberField(q.timestamp);
      if (price === undefined || seconds === undefined) {
        reject({ reason: `${what}: quote has no close or timestamp`, symbol, raw: q });
        return [];
      }
      const time = Math.min(seconds * 1000, now);
      if (!cursor.isNew(symbol, 'tick', time)) return [];
      return [tickOf({ symbol, time, price, open: numberField(q.open), high: numberField(q.high), low: numberField(q.low), volume: numberField(q.volume),
        source: 'twelvedata', now })];
    }

    return { bars: intradayBars, quote };
  });
}
