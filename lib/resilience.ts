// Calls to an unreliable upstream (Yahoo Finance, Alpha Vantage, Twelve Data, Claude): rate-limited (bottleneck), behind a circuit breaker
// (opossum) and retried with exponential backoff and jitter (p-retry) while the error is retriable and the
// circuit is not open. One instance per upstream; `run(fn)` wraps any call to it.
import Bottleneck from 'bottleneck';
import CircuitBreaker from 'opossum';
import pRetry from 'p-retry';
import { z } from 'zod';
import { CircuitOpenError, errorMessage, isRetriable as defaultIsRetriable } from './errors.ts';
import type { Logger } from './logger.ts';

export const resilienceConfigSchema = z.object({
  ratePerSecond: z.number().positive().default(2).describe('Most calls started per second'),
  maxConcurrent: z.number().int().min(1).default(2).describe('Most calls in flight at once'),
  retries: z.number().int().min(0).default(3).describe('Retries of a retriable failure before giving up'),
  minBackoffMs: z.number().int().min(0).default(500).describe('First retry delay; doubles each retry, times a random 1..2 (jitter)'),
  maxBackoffMs: z.number().int().min(0).default(10_000).describe('Longest retry delay'),
  timeoutMs: z.number().int().min(0).default(15_000).describe('A call taking longer fails (and counts against the circuit); 0 = no limit'),
  failureThreshold: z.number().int().min(1).default(5).describe('Consecutive failures that open the circuit'),
  errorThresholdPercentage: z.number().min(0).max(100).default(50).describe('Also open when more than this % of at least failureThreshold calls in the ' +
    'window failed'),
  rollingWindowMs: z.number().int().min(1000).default(60_000).describe('Window of the failure percentage'),
  resetTimeoutMs: z.number().int().min(1).default(60_000).describe('Time the circuit stays open before letting one trial call through (half-open)'),
});
export type ResilienceConfig = z.output<typeof resilienceConfigSchema>;

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface Resilient {
  /** Runs `fn` under the rate limit, the breaker and the retry policy; rejects with the last error. */
  run<T>(fn: () => Promise<T>, what?: string): Promise<T>;
  state(): CircuitState;
  shutdown(): Promise<void>;
}

/** Hears one upstream's circuit: its state changes, and each failure that counts against it (for the gauge and /health). */
export interface CircuitListener {
  onStateChange?: (state: CircuitState) => void;
  /** A call failed in a way that counts against the circuit (after the breaker's own timeout, before any retry). */
  onFailure?: (err: unknown) => void;
}

export interface ResilienceDeps extends CircuitListener {
  logger: Logger;
  /** Whether an error is worth retrying (default: lib/errors isRetriable). */
  isRetriable?: (err: unknown) => boolean;
  /** Whether an error says the upstream is unwell and counts against the circuit (default: isRetriable). */
  countsAgainstCircuit?: (err: unknown) => boolean;
}

export function createResilience(upstream: string, input: z.input<typeof resilienceConfigSchema>, deps: ResilienceDeps): Resilient {
  const config = resilienceConfigSchema.parse(input);
  const { logger } = deps;
  const retriable = deps.isRetriable ?? defaultIsRetriable;
  const counts = deps.countsAgainstCircuit ?? retriable;
  const limiter = new Bottleneck({ maxConcurrent: config.maxConcurrent, minTime: Math.ceil(1000 / config.ratePerSecond) });
  const breaker = new CircuitBreaker(async (fn: () => Promise<unknown>) => fn(), {
    name: upstream,
    timeout: config.timeoutMs === 0 ? false : config.timeoutMs,
    resetTimeout: config.resetTimeoutMs,
    volumeThreshold: config.failureThreshold,
    errorThresholdPercentage: config.errorThresholdPercentage,
    rollingCountTimeout: config.rollingWindowMs,
    // Bad requests (404, invalid symbol, a response that fails validation) say nothing about the upstream's health.
    errorFilter: (err: unknown) => !counts(err),
  });

  // opossum opens on a failure percentage; "N failures in a row" is tracked here so it holds whatever came before.
  let consecutiveFailures = 0;
  breaker.on('failure', (err: unknown) => {
    deps.onFailure?.(err);
    consecutiveFailures++;
    if (consecutiveFailures >= config.failureThreshold && breaker.closed) breaker.open();
  });
  breaker.on('success', () => { consecutiveFailures = 0; });
  breaker.on('open', () => {
    logger.warn({ upstream, resetTimeoutMs: config.resetTimeoutMs }, 'circuit opened: upstream calls suspended');
    deps.onStateChange?.('open');
  });
  breaker.on('halfOpen', () => {
    logger.info({ upstream }, 'circuit half-open: letting a trial call through');
    deps.onStateChange?.('half-open');
  });
  breaker.on('close', () => {
    consecutiveFailures = 0;
    logger.info({ upstream }, 'circuit closed: upstream calls resumed');
    deps.onStateChange?.('closed');
  });

  const isOpenRejection = (err: unknown) => (err as { code?: unknown } | null)?.code === 'EOPENBREAKER';

  /**
   * One attempt through the limiter and the breaker. The caller hears the breaker's verdict at once (a timeout rejects
   * when it expires), but the limiter's slot is held until the upstream call itself has ended, so a slow upstream never
   * gets more than maxConcurrent calls at a time.
   */
  function attempt<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      limiter.schedule(async () => {
        let call: Promise<T> | undefined;
        const fired = breaker.fire(() => (call = fn())) as Promise<T>;
        fired.then(resolve, reject);
        await fired.catch(() => {});
        await call?.catch(() => {});
      }).catch(reject);
    });
  }

  return {
    async run<T>(fn: () => Promise<T>, what = 'call'): Promise<T> {
      try {
        return await pRetry(() => attempt(fn), {
          retries: config.retries,
          factor: 2,
          minTimeout: config.minBackoffMs,
          maxTimeout: config.maxBackoffMs,
          randomize: true,
          shouldRetry: ({ error }) => !isOpenRejection(error) && retriable(error),
          onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
            if (isOpenRejection(error)) return;
            const willRetry = retriesLeft > 0 && retriable(error) && !breaker.opened;
            logger.warn({ upstream, what, attempt: attemptNumber, retriesLeft, retryInMs: willRetry ? retryDelay : undefined, err: errorMessage(error) },
              willRetry ? 'upstream call failed, retrying' : 'upstream call failed');
          },
        });
      } catch (err) {
        if (isOpenRejection(err)) throw new CircuitOpenError(upstream, err);
        throw err;
      }
    },
    state() {
      return breaker.opened ? 'open' : breaker.halfOpen ? 'half-open' : 'closed';
    },
    async shutdown() {
      breaker.shutdown();
      await limiter.stop({ dropWaitingJobs: true });
    },
  };
}
