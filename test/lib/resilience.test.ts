// Resilience around an unreliable upstream: retries with backoff while the error is retriable, a circuit that opens
// after N consecutive failures and lets one trial call through after the reset timeout, a concurrency bound, a rate
// limit and a per-call timeout. Real timers with millisecond settings; no upstream, `fn` is the upstream.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, TransientError, ValidationError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createResilience, type CircuitState, type ResilienceConfig, type ResilienceDeps, type Resilient } from '../../lib/resilience.ts';
import { waitFor } from '../helpers/wait.ts';

const logger = createLogger({ level: 'silent' });

/** Fast settings: 1000 calls/s, 1–2 ms backoff, no timeout, a circuit that only opens when a test wants it to. */
const FAST: Partial<ResilienceConfig> = {
  ratePerSecond: 1000, maxConcurrent: 4, retries: 3, minBackoffMs: 1, maxBackoffMs: 2, timeoutMs: 0,
  failureThreshold: 100, errorThresholdPercentage: 100, rollingWindowMs: 1000, resetTimeoutMs: 60_000,
};

const created: Resilient[] = [];
afterEach(async () => {
  await Promise.all(created.splice(0).map((r) => r.shutdown()));
});

function resilience(config: Partial<ResilienceConfig> = {}, deps: Partial<ResilienceDeps> = {}): Resilient {
  const r = createResilience('test-upstream', { ...FAST, ...config }, { logger, ...deps });
  created.push(r);
  return r;
}

/** An upstream that fails with the given errors in turn, then answers `value`; counts its calls. */
function upstream<T>(failures: unknown[], value: T) {
  const calls = { n: 0 };
  const fn = async (): Promise<T> => {
    const i = calls.n++;
    if (i < failures.length) throw failures[i];
    return value;
  };
  return { fn, calls };
}

const transient = (i: number) => new TransientError(`upstream down #${i}`);

describe('retries', () => {
  it('retries a retriable failure `retries` times, then rejects with the last error', async () => {
    const r = resilience({ retries: 3 });
    const errors = [1, 2, 3, 4, 5].map(transient);
    const { fn, calls } = upstream(errors, 'never');
    await expect(r.run(fn)).rejects.toBe(errors[3]);
    expect(calls.n).toBe(4); // first attempt + 3 retries
  });

  it('returns the value of a success after retriable failures', async () => {
    const r = resilience({ retries: 3 });
    const { fn, calls } = upstream([transient(1), new Error('ECONNRESET')], { price: 42 });
    await expect(r.run(fn)).resolves.toEqual({ price: 42 });
    expect(calls.n).toBe(3);
    expect(r.state()).toBe('closed');
  });

  it('retries: 0 makes exactly one attempt', async () => {
    const r = resilience({ retries: 0 });
    const { fn, calls } = upstream([transient(1)], 'ok');
    await expect(r.run(fn)).rejects.toThrow('upstream down #1');
    expect(calls.n).toBe(1);
  });

  it('backs off between attempts: doubling from minBackoffMs (times 1..2), capped at maxBackoffMs', async () => {
    const r = resilience({ retries: 2, minBackoffMs: 40, maxBackoffMs: 1000 });
    const starts: number[] = [];
    const fn = async () => { starts.push(performance.now()); throw transient(starts.length); };
    await expect(r.run(fn)).rejects.toThrow('upstream down #3');
    const [first, second] = [starts[1]! - starts[0]!, starts[2]! - starts[1]!];
    expect(first).toBeGreaterThanOrEqual(38); // 40..80
    expect(first).toBeLessThan(200);
    expect(second).toBeGreaterThanOrEqual(78); // 80..160
  });
});

describe('non-retriable errors', () => {
  it('a ValidationError is thrown at once, without retrying', async () => {
    const r = resilience({ retries: 5 });
    const bad = new ValidationError('unknown symbol');
    const { fn, calls } = upstream([bad], 'never');
    await expect(r.run(fn)).rejects.toBe(bad);
    expect(calls.n).toBe(1);
  });

  it('many non-retriable errors do not open the circuit: later calls still reach the upstream', async () => {
    const states: CircuitState[] = [];
    const r = resilience({ retries: 2, failureThreshold: 2, errorThresholdPercentage: 10 }, { onStateChange: (s) => states.push(s) });
    for (let i = 0; i < 10; i++) {
      await expect(r.run(async () => { throw new ValidationError(`bad request ${i}`); })).rejects.toBeInstanceOf(ValidationError);
    }
    expect(r.state()).toBe('closed');
    const { fn, calls } = upstream([], 'still called');
    await expect(r.run(fn)).resolves.toBe('still called');
    expect(calls.n).toBe(1);
    expect(states).toEqual([]);
  });

  it('a custom isRetriable decides both retrying and counting against the circuit', async () => {
    const notFound = Object.assign(new Error('404 not found'), { status: 404 });
    const isRetriable = (err: unknown) => (err as { status?: number }).status !== 404;
    const r = resilience({ retries: 3, failureThreshold: 2 }, { isRetriable });

    // A 404 by the custom rule: one attempt, and the circuit stays closed however many there are.
    const { fn, calls } = upstream([notFound, notFound, notFound], 'ok');
    for (let i = 0; i < 3; i++) await expect(r.run(fn)).rejects.toBe(notFound);
    expect(calls.n).toBe(3);
    expect(r.state()).toBe('closed');

    // A TransientError says retriable, but the custom rule replaces the default: a 404-flagged one is not retried.
    const transient404 = Object.assign(new TransientError('flagged 404'), { status: 404 });
    const second = upstream([transient404], 'ok');
    await expect(r.run(second.fn)).rejects.toBe(transient404);
    expect(second.calls.n).toBe(1);

    // Anything else still is retried.
    const third = upstream([new Error('503')], 'ok');
    await expect(r.run(third.fn)).resolves.toBe('ok');
    expect(third.calls.n).toBe(2);
  });

  it('countsAgainstCircuit apart from isRetriable: an error not retried can still open the circuit; onFailure hears each counted one', async () => {
    const refused = (i: number) => Object.assign(new Error(`refused again #${i}`), { refused: true });
    const isRefused = (err: unknown) => (err as { refused?: boolean }).refused === true;
    const failures: unknown[] = [];
    const r = resilience({ retries: 3, failureThreshold: 2 }, {
      isRetriable: (err) => !isRefused(err) && !(err instanceof ValidationError),
      countsAgainstCircuit: isRefused,
      onFailure: (err) => failures.push(err),
    });
    await expect(r.run(async () => { throw new ValidationError('bad'); })).rejects.toBeInstanceOf(ValidationError);
    const first = upstream([refused(1)], 'never');
    await expect(r.run(first.fn)).rejects.toThrow('refused again #1');
    expect(first.calls.n).toBe(1); // not retried
    expect(r.state()).toBe('closed');
    await expect(r.run(upstream([refused(2)], 'never').fn)).rejects.toThrow('refused again #2');
    expect(r.state()).toBe('open');
    expect(failures.map((e) => (e as Error).message)).toEqual(['refused again #1', 'refused again #2']); // not the ValidationError
  });
});

describe('circuit breaker', () => {
  it('opens after failureThreshold consecutive failures: the next run rejects with CircuitOpenError without calling fn', async () => {
    const r = resilience({ retries: 0, failureThreshold: 3 });
    for (let i = 1; i <= 2; i++) {
      await expect(r.run(async () => { throw transient(i); })).rejects.toThrow(`upstream down #${i}`);
      expect(r.state()).toBe('closed');
    }
    await expect(r.run(async () => { throw transient(3); })).rejects.toThrow('upstream down #3');
    expect(r.state()).toBe('open');

    const { fn, calls } = upstream([], 'ok');
    const err = await r.run(fn).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(err).toMatchObject({ code: 'CIRCUIT_OPEN', upstream: 'test-upstream', retriable: true });
    expect(calls.n).toBe(0);
  });

  it('counts failures across the retries of one run, and stops retrying once the circuit is open', async () => {
    const r = resilience({ retries: 5, failureThreshold: 2 });
    const { fn, calls } = upstream([1, 2, 3, 4, 5, 6].map(transient), 'never');
    await expect(r.run(fn)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(calls.n).toBe(2);
    expect(r.state()).toBe('open');
  });

  it('only consecutive failures count: a success in between resets the count', async () => {
    const r = resilience({ retries: 0, failureThreshold: 3 });
    const fail = () => r.run(async () => { throw transient(0); }).catch(() => undefined);
    await fail();
    await fail();
    await expect(r.run(async () => 'ok')).resolves.toBe('ok');
    await fail();
    await fail();
    expect(r.state()).toBe('closed');
    await fail();
    expect(r.state()).toBe('open');
  });

  it('also opens when more than errorThresholdPercentage of at least failureThreshold calls failed', async () => {
    const r = resilience({ retries: 0, failureThreshold: 4, errorThresholdPercentage: 50, rollingWindowMs: 10_000 });
    const fail = () => r.run(async () => { throw transient(0); }).catch(() => undefined);
    await fail();
    await r.run(async () => 'ok');
    await fail();
    await r.run(async () => 'ok');
    expect(r.state()).toBe('closed'); // 2 of 4 = 50 %, not more
    await fail(); // 3 of 5 = 60 %
    expect(r.state()).toBe('open');
  });

  it('after resetTimeoutMs lets one trial call through (half-open); its success closes the circuit; onStateChange hears open, half-open, closed', async () => {
    const states: CircuitState[] = [];
    const r = resilience({ retries: 0, failureThreshold: 2, resetTimeoutMs: 100 }, { onStateChange: (s) => states.push(s) });
    for (let i = 0; i < 2; i++) await r.run(async () => { throw transient(i); }).catch(() => undefined);
    expect(r.state()).toBe('open');
    expect(states).toEqual(['open']);
    await expect(r.run(async () => 'too early')).rejects.toBeInstanceOf(CircuitOpenError);

    await waitFor(() => r.state() === 'half-open', { timeoutMs: 2000, intervalMs: 10, what: 'half-open' });
    expect(states).toEqual(['open', 'half-open']);

    // One trial at a time: while it runs, other calls are still refused.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const trialCalls = { n: 0 };
    const trial = r.run(async () => { trialCalls.n++; await gate; return 'recovered'; });
    await waitFor(() => trialCalls.n === 1, { timeoutMs: 2000, intervalMs: 2, what: 'trial call started' });
    const other = upstream([], 'second');
    await expect(r.run(other.fn)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(other.calls.n).toBe(0);

    release();
    await expect(trial).resolves.toBe('recovered');
    expect(r.state()).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
    await expect(r.run(other.fn)).resolves.toBe('second');
  });

  it('a failed trial call opens the circuit again', async () => {
    const states: CircuitState[] = [];
    const r = resilience({ retries: 0, failureThreshold: 1, resetTimeoutMs: 50 }, { onStateChange: (s) => states.push(s) });
    await r.run(async () => { throw transient(1); }).catch(() => undefined);
    await waitFor(() => r.state() === 'half-open', { timeoutMs: 2000, intervalMs: 5, what: 'half-open' });
    await expect(r.run(async () => { throw transient(2); })).rejects.toThrow('upstream down #2');
    expect(r.state()).toBe('open');
    expect(states).toEqual(['open', 'half-open', 'open']);
    await expect(r.run(async () => 'refused')).rejects.toBeInstanceOf(CircuitOpenError);
    // …and lets another trial through after the reset timeout.
    await waitFor(() => r.state() === 'half-open', { timeoutMs: 2000, intervalMs: 5, what: 'half-open again' });
    await expect(r.run(async () => 'ok')).resolves.toBe('ok');
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });
});

describe('limits', () => {
  /** `n` runs of a call that takes `ms`; returns the most calls running at once. */
  async function peakConcurrency(r: Resilient, n: number, ms: number) {
    let running = 0;
    let peak = 0;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => r.run(async () => {
      running++;
      peak = Math.max(peak, running);
      try { await sleep(ms); return i; } finally { running--; }
    })));
    return { peak, results };
  }

  it('maxConcurrent bounds the calls in flight; queued calls all run', async () => {
    const r = resilience({ maxConcurrent: 2 });
    const { peak, results } = await peakConcurrency(r, 6, 30);
    expect(peak).toBe(2);
    expect(results.map((x) => x.status === 'fulfilled' && x.value)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('ratePerSecond spaces the starts of calls', async () => {
    const r = resilience({ ratePerSecond: 20 }); // one start per 50 ms
    const starts: number[] = [];
    await Promise.all([1, 2, 3, 4].map(() => r.run(async () => { starts.push(performance.now()); })));
    // 4 starts span 3 intervals of 50 ms (a few ms of timer jitter either way per start).
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(130);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(30);
  });

  it('timeoutMs fails a slow call (and a timeout counts against the circuit)', async () => {
    const r = resilience({ retries: 0, timeoutMs: 30, failureThreshold: 1 });
    const t0 = performance.now();
    await expect(r.run(() => sleep(500, 'late'))).rejects.toThrow(/timed out/i);
    expect(performance.now() - t0).toBeLessThan(400);
    expect(r.state()).toBe('open');
  });

  it('a timed-out call is retried like any retriable failure', async () => {
    const r = resilience({ retries: 2, timeoutMs: 30 });
    let n = 0;
    await expect(r.run(async () => (++n < 3 ? sleep(300, 'late') : 'fast'))).resolves.toBe('fast');
    expect(n).toBe(3);
  });

  // maxConcurrent is "most calls in flight at once". A call that timed out is still running against the upstream
  // (nothing aborts it), yet its slot is freed at once, so a slow upstream gets more concurrent calls, not fewer.
  it('maxConcurrent still bounds the calls in flight when calls time out', async () => {
    const r = resilience({ maxConcurrent: 1, retries: 0, timeoutMs: 20 });
    const { peak, results } = await peakConcurrency(r, 3, 150);
    expect(results.every((x) => x.status === 'rejected')).toBe(true);
    expect(peak).toBe(1);
  });
});

describe('shutdown', () => {
  it('resolves, also with calls waiting in the queue; the waiting calls reject rather than hang', async () => {
    const r = createResilience('test-upstream', { ...FAST, maxConcurrent: 1, retries: 0 }, { logger });
    const first = r.run(() => sleep(30, 'first'));
    const queued = r.run(async () => 'queued');
    const outcomes = Promise.allSettled([first, queued]);
    await expect(r.shutdown()).resolves.toBeUndefined();
    const [, q] = await outcomes;
    expect(q.status).toBe('rejected');
  });

  it('resolves while the circuit is open (its reset timer is cleared)', async () => {
    const r = createResilience('test-upstream', { ...FAST, retries: 0, failureThreshold: 1, resetTimeoutMs: 60_000 }, { logger });
    await r.run(async () => { throw transient(1); }).catch(() => undefined);
    expect(r.state()).toBe('open');
    await expect(r.shutdown()).resolves.toBeUndefined();
  });
});
