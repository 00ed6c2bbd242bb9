// The client of a market-data provider's HTTPS JSON API (Alpha Vantage, Twelve Data), on fetch: every request counted
// against the provider's rate limit (lib/rate-budget: sliding windows, refused at once when spent), through
// lib/resilience (pacing, retry with backoff + jitter, circuit breaker, timeout), and its answer read into data or one
// of lib/errors' ProviderError / RateLimitedError. The API key is sent as the provider wants it (a query parameter, a
// header) and never appears in a message or a log: errors name the call (`TIME_SERIES_INTRADAY AAPL`), not the URL.
import { z } from 'zod';
import { errorMessage, ProviderError, RateLimitedError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { createRateBudget, type RateBudget } from '../lib/rate-budget.ts';
import { createResilience, resilienceConfigSchema, type CircuitListener, type Resilient } from '../lib/resilience.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { createCursor, createHandOff, fetchEachSymbol, type Cursor } from './sources/live.ts';
import type { PriceFeed, RejectedInput, SourceHealth } from './sources/types.ts';

export interface ProviderDefaults {
  baseUrl: string;
  /** The free tier's limits, from the provider's documentation. */
  perMinute: number;
  perDay: number;
  /** What the provider counts: requests, or API credits (one per symbol). */
  unit: string;
  /** The environment variable the key comes from (for messages). */
  keyVariable: string;
}

/** Config fields of a provider source (spread into its schema). */
export function providerClientFields(d: ProviderDefaults) {
  return {
    baseUrl: z.string().url().default(d.baseUrl).describe('Base URL of the API (a local server in tests)'),
    apiKey: z.string().default('').describe(`API key (secret, never logged; ${d.keyVariable})`),
    callsPerMinute: z.number().int().min(0).default(d.perMinute).describe(`Most ${d.unit} per minute (default: the free tier's); 0 = no limit`),
    callsPerDay: z.number().int().min(0).default(d.perDay).describe(`Most ${d.unit} per day (default: the free tier's); 0 = no limit`),
    resilience: resilienceConfigSchema.prefault({}).describe('Pacing, retries, timeout and circuit breaker of the calls'),
  };
}
const clientSchema = z.object(providerClientFields({ baseUrl: 'http://x', perMinute: 0, perDay: 0, unit: '', keyVariable: '' }));
export type ProviderClientConfig = z.output<typeof clientSchema>;

export interface ProviderClientDeps {
  logger: Logger;
  /** HTTP client (default: global fetch). */
  fetch?: typeof fetch;
  /** Hears the client's circuit, for the gauge and /health. */
  circuit?: CircuitListener;
  /** Clock of the rate limit (default Date.now). */
  clock?: () => number;
}

/** What a provider answered: the HTTP status and the body, parsed when it is JSON (else its text). */
export interface ProviderAnswer { status: number; body: unknown }

export interface ProviderSpec {
  name: 'alphavantage' | 'twelvedata';
  /** How people write it, for messages: `Alpha Vantage`. */
  label: string;
  keyVariable: string;
  /** Puts the key where the provider reads it. */
  authorize(url: URL, headers: Headers, apiKey: string): void;
  /** The provider's own error shapes: the error an answer is (often with HTTP 200), or null when it is not one of them. */
  problem(answer: ProviderAnswer, what: string, now: number): Error | null;
}

export interface ProviderClient {
  /** GET `path` with `params`, as `cost` calls of the rate limit; the parsed JSON, or the error the answer is. */
  get(path: string, params: Record<string, string>, what: string, cost?: number): Promise<unknown>;
  health(): SourceHealth;
  /** deps.logger with `source` = the provider's name. */
  logger: Logger;
  close(): Promise<void>;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** A ProviderError that the provider is unusable for now: worth retrying, held against the circuit. */
export function providerUnavailable(spec: Pick<ProviderSpec, 'name' | 'label'>, message: string, status: number | null, cause?: unknown): ProviderError {
  return new ProviderError(spec.name, `${spec.label} ${message}`, { code: 'PROVIDER_UNAVAILABLE', retriable: true, countsAgainstCircuit: true, status, cause });
}

/** A ProviderError that the provider refuses our key or plan: not worth retrying, held against the circuit (the source is unusable). */
export function providerRefused(spec: Pick<ProviderSpec, 'name' | 'label'>, message: string, status: number | null): ProviderError {
  return new ProviderError(spec.name, `${spec.label} ${message}`, { code: 'PROVIDER_REFUSED', retriable: false, countsAgainstCircuit: true, status });
}

/** A ProviderError that the request was bad (an unknown symbol): not retried, says nothing about the provider's health. */
export function providerBadRequest(spec: Pick<ProviderSpec, 'name' | 'label'>, message: string, status: number | null): ProviderError {
  return new ProviderError(spec.name, `${spec.label} ${message}`, { code: 'PROVIDER_REQUEST', retriable: false, countsAgainstCircuit: false, status });
}

/** The generic reading of a status the provider's own shapes did not explain. */
function statusProblem(spec: ProviderSpec, { status }: ProviderAnswer, what: string, now: number): Error | null {
  if (status >= 200 && status < 300) return null;
  if (status === 429) {
    return new RateLimitedError(spec.name, `${spec.label} ${what}: answered 429 Too Many Requests`, { until: now + MINUTE, byProvider: true });
  }
  if (status === 401 || status === 403) return providerRefused(spec, `${what}: answered ${status} (API key or plan refused)`, status);
  if (status >= 500) return providerUnavailable(spec, `${what}: answered ${status}`, status);
  return providerBadRequest(spec, `${what}: answered ${status}`, status);
}

export function createProviderClient(spec: ProviderSpec, config: ProviderClientConfig, deps: ProviderClientDeps): ProviderClient {
  const logger = deps.logger.child({ source: spec.name });
  const clock = deps.clock ?? Date.now;
  const http = deps.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const budget: RateBudget = createRateBudget(spec.name, [
    { limit: config.callsPerMinute, ms: MINUTE, label: 'per minute' },
    { limit: config.callsPerDay, ms: DAY, label: 'per day' },
  ], clock);
  const isTimeout = (err: unknown) => (err as { code?: unknown } | null)?.code === 'ETIMEDOUT'; // the breaker's own timeout
  const resilient: Resilient = createResilience(spec.name, config.resilience, {
    logger,
    isRetriable: (err) => (err instanceof ProviderError ? err.retriable : isTimeout(err)),
    countsAgainstCircuit: (err) => (err instanceof ProviderError ? err.countsAgainstCircuit : isTimeout(err)),
    ...deps.circuit,
  });
  const base = config.baseUrl.endsWith('/') ? config.baseUrl : `${config.baseUrl}/`;

  /**
   * What stops a call before the breaker sees it: no key, or no call left in the rate limit. Checked outside the breaker
   * too, because opossum takes an error that does not count as a success, which would close a half-open circuit untried.
   */
  function precheck(what: string, cost: number): void {
    if (!config.apiKey) {
      throw new ProviderError(spec.name, `${spec.label} ${what}: no API key (set ${spec.keyVariable})`,
        { code: 'PROVIDER_NO_KEY', retriable: false, countsAgainstCircuit: false });
    }
    budget.check(cost);
  }

  async function attempt(path: string, params: Record<string, string>, what: string, cost: number): Promise<unknown> {
    precheck(what, cost);
    budget.take(cost); // every attempt, retries included, is a call the provider counts
    const url = new URL(path.replace(/^\//, ''), base);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const headers = new Headers({ accept: 'application/json' });
    spec.authorize(url, headers, config.apiKey);
    const timeout = config.resilience.timeoutMs > 0 ? { signal: AbortSignal.timeout(config.resilience.timeoutMs) } : {};
    let res: Response;
    let text: string;
    try {
      res = await http(url, { headers, ...timeout });
      text = await res.text();
    } catch (err) {
      // fetch's own error names neither the cause nor, luckily, the URL; the cause's code says what happened (ECONNREFUSED).
      const code = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as { name?: unknown }).name;
      throw providerUnavailable(spec, `${what}: no answer (${typeof code === 'string' ? code : errorMessage(err)})`, null, err);
    }
    let body: unknown = text;
    try { body = JSON.parse(text); } catch { /* not JSON: the status decides, or the provider's reading */ }
    const now = clock();
    const answer = { status: res.status, body };
    const problem = spec.problem(answer, what, now) ?? statusProblem(spec, answer, what, now);
    if (problem instanceof RateLimitedError) budget.block(problem.until);
    if (problem) throw problem;
    if (typeof body !== 'object' || body === null) throw providerUnavailable(spec, `${what}: answer is not JSON`, res.status);
    return body;
  }

  return {
    logger,
    async get(path, params, what, cost = 1) {
      precheck(what, cost);
      return resilient.run(() => attempt(path, params, what, cost), what);
    },
    health() {
      const circuit = resilient.state();
      const rateLimit = budget.status();
      if (!config.apiKey) return { circuit, available: false, reason: `no API key (${spec.keyVariable})`, rateLimit };
      if (circuit === 'open') return { circuit, available: false, reason: 'circuit open', rateLimit };
      if (rateLimit.nextCallAt !== null) {
        return { circuit, available: false, reason: `rate limit reached; next call at ${rateLimit.nextCallAt}`, rateLimit };
      }
      return { circuit, available: true, rateLimit };
    },
    close: () => resilient.shutdown(),
  };
}

/** What a provider source makes of one symbol's answer: its bars or its tick, past the cursor; unreadable input rejected. */
export interface ProviderReads {
  bars(symbol: string, now: number): Promise<PriceUpdate[]>;
  quote(symbol: string, now: number): Promise<PriceUpdate[]>;
}

/** A provider's price source, by its name. */
export type ProviderSource<N extends ProviderSpec['name']> = PriceFeed & { readonly name: N; health(): SourceHealth };

/**
 * A provider's price source: each symbol asked on its own (one request each, the client pacing them), in bars or quote
 * mode; the cursor, the rejected inputs and the failed symbols handed over as the PriceFeed contract says.
 */
export function createProviderFeed<N extends ProviderSpec['name']>(spec: Pick<ProviderSpec, 'label'> & { name: N }, client: ProviderClient,
  mode: 'bars' | 'quote', reads: (o: { cursor: Cursor; reject: (r: RejectedInput) => void }) => ProviderReads): ProviderSource<N> {
  const cursor = createCursor();
  const rejected = createHandOff<RejectedInput>();
  const failed = createHandOff<string>();
  const read = reads({ cursor, reject: rejected.push });
  return {
    name: spec.name,
    async fetch(symbols, now) {
      if (symbols.length === 0) return [];
      const one = mode === 'quote' ? (s: string) => read.quote(s, now) : (s: string) => read.bars(s, now);
      return fetchEachSymbol(symbols, one, { logger: client.logger, provider: spec.label, failed: failed.push });
    },
    acknowledge: cursor.acknowledge,
    takeRejected: rejected.take,
    takeFailedSymbols: failed.take,
    health: () => client.health(),
    close: () => client.close(),
  };
}
