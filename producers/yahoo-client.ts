// The one Yahoo Finance client setup (yahoo-finance2) that the price, news and profile sources share: the client with
// its logger and HTTP hook (`deps.fetch` replaces the HTTP client; tests feed recorded responses through it), the
// status-aware fetch, which Yahoo errors are worth retrying, the recovery from a refused crumb, and the lib/resilience
// wrapper (rate limit, retry with backoff + jitter, circuit breaker) every request goes through.
import YahooFinance from 'yahoo-finance2';
import { ExtendedCookieJar } from 'yahoo-finance2/lib/cookieJar';
import { getCrumbClear } from 'yahoo-finance2/lib/getCrumb';
import { z } from 'zod';
import { errorMessage, MarketstreamError, YahooCrumbError, YahooRequestError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { createResilience, resilienceConfigSchema, type CircuitListener, type Resilient } from '../lib/resilience.ts';

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
  /** Hears the client's circuit (state changes and failures), for the gauge and /health. */
  circuit?: CircuitListener;
}

export interface YahooClient {
  yf: InstanceType<typeof YahooFinance>;
  /** The rate limit, retries and circuit breaker (its state, its shutdown); call Yahoo through `run`. */
  resilient: Resilient;
  /**
   * `fn` (a yahoo-finance2 call) through `resilient`, with one more try on a fresh crumb and cookies when Yahoo
   * refuses the session; a second refusal is a YahooCrumbError, which counts against the circuit.
   */
  run<T>(fn: () => Promise<T>, what: string): Promise<T>;
  /** deps.logger with `source` = the client's name. */
  logger: Logger;
}

const NOT_RETRIABLE = new Set(['BadRequestError', 'FailedYahooValidationError', 'InvalidOptionsError', 'ZodError']);

/**
 * Yahoo refused our session rather than the request: a 401 ("Invalid Crumb", "Invalid Cookie"), or yahoo-finance2's
 * cookie/crumb handshake failed ("Failed to get crumb, status 401", "No set-cookie header present", …). A fresh crumb
 * may cure it; yahoo-finance2 4 never fetches one by itself while its cached one has not expired.
 */
export function isCrumbError(err: unknown): boolean {
  if (err instanceof YahooRequestError) return err.status === 401 || /crumb|cookie/i.test(err.message);
  if (err instanceof MarketstreamError) return false;
  return err instanceof Error && /crumb|cookie/i.test(err.message);
}

/**
 * 429 and 5xx, network errors and timeouts are worth retrying; a bad symbol or a malformed answer is not, nor a crumb
 * refused again after a fresh one was fetched (`run` already tried once more; the next poll tries again).
 */
export function isRetriableYahooError(err: unknown): boolean {
  if (err instanceof YahooCrumbError) return false;
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
  const cookieJar = new ExtendedCookieJar();
  const yf = new YahooFinance({
    YF_QUERY_HOST: config.host,
    cookieJar,
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
    // A YahooCrumbError is not retried at once but says Yahoo refuses us: it counts, so persistent refusals open the circuit.
    countsAgainstCircuit: (err) => err instanceof YahooCrumbError || isRetriableYahooError(err),
    ...deps.circuit,
  });

  // Bumped by each clearing of the crumb. A call refused on a crumb that was already replaced since it started (by a
  // concurrent call's recovery) just tries again: clearing once more would throw away the fresh crumb.
  let crumbGeneration = 0;
  let clearing: Promise<void> = Promise.resolve();

  async function withCrumbRecovery<T>(fn: () => Promise<T>, what: string): Promise<T> {
    const generation = crumbGeneration;
    try {
      return await fn();
    } catch (err) {
      if (!isCrumbError(err)) throw err;
      if (generation === crumbGeneration) {
        crumbGeneration++;
        logger.warn({ what, err: errorMessage(err) }, 'Yahoo refused the crumb: clearing crumb and cookies, fetching new ones');
        // yahoo-finance2's own reset: forgets the crumb cached for this jar and empties the jar, so the next call does the handshake again.
        clearing = getCrumbClear(cookieJar);
      }
      await clearing;
      try {
        return await fn();
      } catch (again) {
        throw isCrumbError(again) ? new YahooCrumbError(again) : again;
      }
    }
  }

  return { yf, resilient, logger, run: (fn, what) => resilient.run(() => withCrumbRecovery(fn, what), what) };
}
