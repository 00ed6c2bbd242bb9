// Yahoo company profiles through yahoo-finance2's fetch hook with recorded-format Yahoo responses (no network):
// quoteSummary assetProfile + price → profile, the crumb handshake, an unknown symbol reported missing (not retried),
// a 500 retried, and a run failing only when Yahoo fails for every symbol.
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';
import { createYahooProfileSource, type YahooProfileSource } from '../../../producers/graph/yahoo-profiles.ts';

interface Recorded { response: { status: number; statusText: string; headers: Record<string, string | string[]>; bodyJson?: unknown; bodyText?: string } }
const fixture = (name: string): Recorded => JSON.parse(readFileSync(new URL(`../../fixtures/yahoo/${name}`, import.meta.url), 'utf8')) as Recorded;
function toResponse(r: Recorded): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.response.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const body = r.response.bodyJson !== undefined ? JSON.stringify(r.response.bodyJson) : r.response.bodyText ?? '';
  return new Response(body, { status: r.response.status, statusText: r.response.statusText, headers });
}

function fakeYahoo(script: Recorded[] = []) {
  const calls: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    if (url.startsWith('https://finance.yahoo.com/quote/')) return toResponse(fixture('getCrumb-quote-AAPL.json'));
    if (url.startsWith('https://query1.finance.yahoo.com/v1/test/getcrumb')) return toResponse(fixture('getCrumb-getcrumb.json'));
    const m = /\/v10\/finance\/quoteSummary\/([^?]+)/.exec(url);
    if (m) return toResponse(script.shift() ?? fixture(m[1] === 'AAPL' ? 'quoteSummary-AAPL.json' : 'quoteSummary-NOPE-404.json'));
    return new Response('unexpected request', { status: 418 });
  }) as typeof globalThis.fetch;
  return { fetch, calls, summaryCalls: () => calls.filter((u) => u.includes('/v10/finance/quoteSummary/')) };
}

const logger = createLogger({ level: 'silent', format: 'json' });
const FAST = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000, maxConcurrent: 4 };
const sources: YahooProfileSource[] = [];
const source = (fake: ReturnType<typeof fakeYahoo>, retries = 3) => {
  const s = createYahooProfileSource({ resilience: { ...FAST, retries } }, { logger, fetch: fake.fetch });
  sources.push(s);
  return s;
};

beforeAll(() => { vi.spyOn(console, 'error').mockImplementation(() => {}); });
afterEach(async () => { await Promise.all(sources.splice(0).map((s) => s.close?.())); });

describe('yahoo profile source', () => {
  it('maps quoteSummary assetProfile + price to a profile after the crumb handshake; an unknown symbol is missing', async () => {
    const fake = fakeYahoo();
    const { profiles, missing } = await source(fake).profiles(['AAPL', 'NOPE']);
    expect(profiles).toEqual([{
      symbol: 'AAPL', name: 'Apple Inc.', sector: 'Technology', industry: 'Consumer Electronics', exchange: 'NasdaqGS',
      summary: expect.stringMatching(/^Apple Inc\. designs, manufactures/),
    }]);
    expect(missing).toEqual(['NOPE']);
    const url = new URL(fake.summaryCalls().find((u) => u.includes('/AAPL'))!);
    expect(url.searchParams.get('modules')).toBe('assetProfile,price');
    expect(url.searchParams.get('crumb')).toBe('Mm.oQGSe2By');
    expect(fake.summaryCalls().filter((u) => u.includes('/NOPE'))).toHaveLength(1); // a 404 is not retried
  });

  it('retries a 500, and fails the run only when every symbol failed', async () => {
    const fake = fakeYahoo([fixture('error-500.json')]);
    expect((await source(fake).profiles(['AAPL'])).profiles).toHaveLength(1);
    expect(fake.summaryCalls()).toHaveLength(2);

    const down = fakeYahoo(Array.from({ length: 10 }, () => fixture('error-500.json')));
    await expect(source(down, 1).profiles(['AAPL'])).rejects.toThrow();
  });
});
