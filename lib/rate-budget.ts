// A provider's rate limit as a count of the calls started in sliding windows (5 per minute and 25 per day, …): a call
// that does not fit is refused at once with the time it would fit (RateLimitedError), never queued. A source chain
// wants a "no" now, so the next source answers this poll; a queue (bottleneck's reservoir) would hold the poll until
// the window frees, up to a day. A sliding window is also never looser than the provider's own count, whether that
// resets at a fixed minute or midnight or slides: no window of the length holds more calls than its limit. The count
// lives in the process (a restart starts at zero) and covers this process's calls only, not another using the same key.
import { RateLimitedError } from './errors.ts';

export interface RateWindow {
  /** Most calls started in any window of `ms`. */
  limit: number;
  ms: number;
  /** How the limit reads, e.g. `per minute`. */
  label: string;
}

export interface RateBudgetStatus {
  windows: Array<{ label: string; limit: number; used: number }>;
  /** ISO time until which the provider said no more (its own rate-limit answer), or null. */
  blockedUntil: string | null;
  /** ISO time the next call fits, null when one fits now, `never` when the limit is 0 calls. */
  nextCallAt: string | null;
}

export interface RateBudget {
  /** Counts `n` calls as started now, or throws a RateLimitedError (nothing counted) naming the window and when they fit. */
  take(n?: number): void;
  /** Throws what take(n) would throw, counting nothing. */
  check(n?: number): void;
  /** When `n` calls fit (now or earlier: they fit now). */
  fitsAt(n?: number): number;
  /** The provider answered that we are over its limit: no call before `until`. */
  block(until: number): void;
  status(): RateBudgetStatus;
}

export function createRateBudget(provider: string, windows: readonly RateWindow[], clock: () => number = Date.now): RateBudget {
  const active = windows.filter((w) => w.limit > 0);
  const longest = Math.max(0, ...active.map((w) => w.ms));
  const starts: number[] = []; // times calls started, oldest first
  let blockedUntil = 0;

  const prune = (now: number) => { while (starts.length > 0 && starts[0]! <= now - longest) starts.shift(); };
  const usedIn = (w: RateWindow, now: number) => starts.filter((t) => t > now - w.ms).length;

  /** When `n` more calls fit in `w`: once enough of its calls left it (a call at t counts until t + ms). */
  function windowFitsAt(w: RateWindow, n: number, now: number): number {
    if (n > w.limit) return Infinity;
    const inWindow = starts.filter((t) => t > now - w.ms);
    const over = inWindow.length + n - w.limit;
    return over <= 0 ? now : inWindow[over - 1]! + w.ms;
  }

  function fitsAt(n = 1): number {
    const now = clock();
    prune(now);
    return Math.max(now, blockedUntil, ...active.map((w) => windowFitsAt(w, n, now)));
  }

  /** Throws the RateLimitedError of `n` calls that do not fit now. */
  function check(n = 1): number {
    const now = clock();
    const at = fitsAt(n);
    if (at <= now) return now;
    const full = active.find((w) => windowFitsAt(w, n, now) > now);
    const why = full ? `${full.limit} calls ${full.label} used` : `${provider} said we are over its rate limit`;
    throw new RateLimitedError(provider, `${provider} rate limit: ${why}; next call ${Number.isFinite(at) ? `at ${new Date(at).toISOString()}` : 'never'}`,
      { until: at, byProvider: !full });
  }

  return {
    check: (n) => { check(n); },
    take(n = 1) {
      const now = check(n);
      for (let i = 0; i < n; i++) starts.push(now);
    },
    fitsAt,
    block(until) { blockedUntil = Math.max(blockedUntil, until); },
    status() {
      const now = clock();
      prune(now);
      const next = fitsAt(1);
      return {
        windows: active.map((w) => ({ label: w.label, limit: w.limit, used: usedIn(w, now) })),
        blockedUntil: blockedUntil > now ? new Date(blockedUntil).toISOString() : null,
        nextCallAt: next <= now ? null : Number.isFinite(next) ? new Date(next).toISOString() : 'never',
      };
    },
  };
}
