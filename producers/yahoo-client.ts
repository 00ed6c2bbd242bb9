// The one Yahoo Finance client setup (yahoo-finance2) that the price, news and profile sources share: the client with
// its logger and HTTP hook (`deps.fetch` replaces the HTTP client; tests feed recorded responses through it), the
// status-aware fetch, which Yahoo errors are worth retrying, and the lib/resilience wrapper (rate limit, retry with
// backoff + jitter, circuit breaker) every request goes through.
import YahooFinance from 'yahoo-finance2';
import { ExtendedCookieJar } from 'yahoo-finance2/lib/cookieJar';
import { z } from 'zod';
import { MarketstreamError, YahooRequestError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { createResilience, resilienceConfigSchema, type CircuitState, type Resilient } from '../lib/resilience.ts';

/** Config fields every Yahoo source has (spread last into its schema). */
export const yahooClientFields = {
  host: z.string().min(1).default('query2.finance.yahoo.com').describe('Yahoo query host'),
  resilience: resilienceConfigSchema.prefault({}).describe('Rate limit, retries and circuit breaker of the Yahoo calls'),
};
const yahooClientConfigSchema = z.object(yahooClientFields);
export type YahooClientConfig = z.output<typeof yahooClientConfigSchema>;

export interface YahooClientDeps {
  logger: Logger;
  /** HTTP client used by yahoo-finance2 (default: global fetch). */
  fetch?: typeof fetch;
  onCircuitStateChange?: (state: CircuitState) => void;
}

export interface YahooClient {
  yf: InstanceType<typeof YahooFinance>;
  resilient: Resilient;
  /** deps.logger with `source` = the client's name. */
  logger: Logger;
}

const NOT_RETRIABLE = new Set(['BadRequestError', 'FailedYahooValidationError', 'InvalidOptionsError', 'ZodError']);

/** 429 and 5xx, network errors and timeouts are worth retrying; a bad symbol or a malformed answer is not. */
export function isRetriableYahooError(err: unknown): boolean {
  if (err instanceof MarketstreamError) return err.retriable;
  const e = err as { name?: unknown; code?: unknown } | null;
  if (typeof e?.name === 'string' && NOT_RETRIABLE.has(e.name)) return false;
  if (e?.name === 'HTTPError') return typeof e.code === 'number' && (e.code === 429 || e.code >= 500);
  return true;
}

/**
 * yahoo-finance2 turns a JSON error body into a plain Error before looking at the status, so a 404 ("No data found")
 * would look retriable. The status is checked here first: a 4xx other than 429 becomes a YahooRequestError.
 */
export function statusAwareFetch(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    if (res.status >= 400 && res.status < 500 && res.status !== 429) {
      const text = await res.clone().text().catch(() => '');
      let description = res.statusText || 'request refused';
      try {
        const body = JSON.parse(text) as Record<string, { error?: { description?: string } } | undefined>;
        description = Object.values(body)[0]?.error?.description ?? description;
      } catch { /* not JSON */ }
      throw new YahooRequestError(res.status, description);
    }
    return res;
  };
}

/** The client and resilience wrapper of one source; `name` ('yahoo', 'yahoo-news', …) tags its logs and its circuit. */
export function createYahooClient(name: string, config: YahooClientConfig, deps: YahooClientDeps): YahooClient {
  const logger = deps.logger.child({ source: name });
  const yf = new YahooFinance({
    YF_QUERY_HOST: config.host,
    cookieJar: new ExtendedCookieJar(),
    versionCheck: false,
    suppressNotices: ['yahooSurvey', 'ripHistorical'],
    validation: { logErrors: false, logOptionsErrors: true },
    logger: {
      info: (...args: unknown[]) => logger.debug({ yahoo: args }, 'yahoo-finance2'),
      debug: (...args: unknown[]) => logger.trace({ yahoo: args }, 'yahoo-finance2'),
      dir: (...args: unknown[]) => logger.trace({ yahoo: args }, 'yahoo-finance2'),
      warn: (...args: unknown[]) => logger.warn({ yahoo: args }, 'yahoo-finance2'),
      error: (...args: unknown[]) => logger.error({ yahoo: args }, 'yahoo-finance2'),
    },
    fetch: statusAwareFetch(deps.fetch ?? ((input, init) => globalThis.fetch(input, init))),
  });
  const resilient = createResilience(name, config.resilience, {
    logger,
    isRetriable: isRetriableYahooError,
    ...(deps.onCircuitStateChange ? { onStateChange: deps.onCircuitStateChange } : {}),
  });
  return { yf, resilient, logger };
}
