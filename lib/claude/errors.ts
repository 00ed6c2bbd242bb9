// How a failed Claude call is read: its outcome label (for logs and metrics), whether retrying can help
// (429, 408, 409, 5xx/529, timeouts, connection errors; the API's x-should-retry header has the last word),
// how long the API asked us to wait (retry-after-ms / retry-after), and a short text for `fallbackReason`.
import { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { CircuitOpenError, errorMessage } from '../errors.ts';

export type CallOutcome =
  | 'ok' | 'invalid_output' | 'refusal'
  | 'rate_limited' | 'server_error' | 'timeout' | 'connection_error' | 'client_error';

export interface ApiFailure {
  outcome: Exclude<CallOutcome, 'ok' | 'invalid_output' | 'refusal'>;
  retriable: boolean;
  status: number | null;
  /** What the API asked us to wait before the next request, if it said. */
  retryAfterMs: number | null;
  /** Short, key-free description, e.g. "429 rate_limit_error: Number of request tokens has exceeded your per-minute rate limit". */
  text: string;
}

/** retry-after-ms (milliseconds), else retry-after (seconds or an HTTP date); null when absent or unusable. */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | null {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers?.get('retry-after');
  if (!raw) return null;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : null;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function describeApiError(err: unknown): ApiFailure {
  if (err instanceof CircuitOpenError) {
    return { outcome: 'connection_error', retriable: false, status: null, retryAfterMs: null,
      text: 'circuit open (Claude kept failing; calls suspended until the reset timeout)' };
  }
  if (err instanceof APIConnectionTimeoutError) return { outcome: 'timeout', retriable: true, status: null, retryAfterMs: null, text: 'request timed out' };
  if (err instanceof APIConnectionError) return { outcome: 'connection_error', retriable: true, status: null, retryAfterMs: null,
    text: clip(`connection error: ${errorMessage(err.cause ?? err)}`) };
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const header = err.headers?.get('x-should-retry');
    const retriable = header === 'true' ? true : header === 'false' ? false : status === 408 || status === 409 || status === 429 || status >= 500;
    const outcome = status === 429 ? 'rate_limited' : status === 408 ? 'timeout' : status >= 500 ? 'server_error' : 'client_error';
    const detail = err.apiMessage ?? err.message;
    return { outcome, retriable, status, retryAfterMs: parseRetryAfter(err.headers), text: clip(`${status}${err.type ? ` ${err.type}` : ''}: ${detail}`) };
  }
  return { outcome: 'client_error', retriable: false, status: null, retryAfterMs: null, text: clip(errorMessage(err)) };
}
