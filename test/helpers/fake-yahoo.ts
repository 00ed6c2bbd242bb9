// A fake Yahoo behind yahoo-finance2's fetch hook (no network), shared by the Yahoo source tests: recorded responses
// from test/fixtures/yahoo/, the cookie/crumb handshake answered, every requested URL recorded; each test routes the
// rest (anything it does not route gets a 418).
import { readFileSync } from 'node:fs';

export interface Recorded { request?: { url: string };
  response: { status: number; statusText: string; headers: Record<string, string | string[]>; bodyJson?: unknown; bodyText?: string } }

/** A recorded response from test/fixtures/yahoo/<name>. */
export const yahooFixture = (name: string): Recorded => JSON.parse(readFileSync(new URL(`../fixtures/yahoo/${name}`, import.meta.url), 'utf8')) as Recorded;

export function toResponse(r: Recorded): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.response.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const body = r.response.bodyJson !== undefined ? JSON.stringify(r.response.bodyJson) : r.response.bodyText ?? '';
  return new Response(body, { status: r.response.status, statusText: r.response.statusText, headers });
}

/** A fetch for yahoo-finance2: answers the crumb handshake, then `route(url)` (a recorded response, or undefined = 418). */
export function fakeYahooFetch(route: (url: string) => Recorded | undefined): { fetch: typeof globalThis.fetch; calls: string[] } {
  const calls: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    if (url.startsWith('https://finance.yahoo.com/quote/')) return toResponse(yahooFixture('getCrumb-quote-AAPL.json'));
    if (url.startsWith('https://query1.finance.yahoo.com/v1/test/getcrumb')) return toResponse(yahooFixture('getCrumb-getcrumb.json'));
    const recorded = route(url);
    return recorded ? toResponse(recorded) : new Response('unexpected request', { status: 418 });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}
