// A fake Yahoo for the news source: answers yahoo-finance2's search requests from recorded responses
// (test/fixtures/yahoo/search-<SYMBOL>-news.json) through the library's fetch hook; failures can be scripted per symbol.
import { readFileSync } from 'node:fs';

interface Recorded { request: { url: string }; response: { status: number; statusText: string; headers: Record<string, string | string[]>; bodyJson?: unknown; bodyText?: string } }

export const fixture = (name: string): Recorded => JSON.parse(readFileSync(new URL(`../../fixtures/yahoo/${name}`, import.meta.url), 'utf8')) as Recorded;

function toResponse(r: Recorded): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.response.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const body = r.response.bodyJson !== undefined ? JSON.stringify(r.response.bodyJson) : r.response.bodyText ?? '';
  return new Response(body, { status: r.response.status, statusText: r.response.statusText, headers });
}

export function fakeYahooNews() {
  const calls: string[] = [];
  /** Per symbol, answers to use before the recorded news (e.g. an error-500). */
  const script = new Map<string, Recorded[]>();
  const failing = new Set<string>();
  const fetch = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    if (!url.includes('/v1/finance/search')) return new Response('unexpected request', { status: 418 });
    const symbol = new URL(url).searchParams.get('q') ?? '';
    if (failing.has(symbol)) return toResponse(fixture('error-500.json'));
    const next = script.get(symbol)?.shift();
    return toResponse(next ?? fixture(`search-${symbol}-news.json`));
  }) as typeof globalThis.fetch;
  return {
    fetch, calls, script, failing,
    searchCalls: (symbol?: string) => calls.filter((u) => u.includes('/v1/finance/search') && (!symbol || new URL(u).searchParams.get('q') === symbol)).length,
  };
}
