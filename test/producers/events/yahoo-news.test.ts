// Yahoo news source through yahoo-finance2 with recorded search responses fed via the library's fetch hook (no network):
// mapping to market events, stable ids from Yahoo's uuid, one event per article found under several symbols,
// a failing symbol skipped while the others still arrive, retry after a 500.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';
import { eventId } from '../../../producers/events/ids.ts';
import { validateMarketEvent } from '../../../topics/market-event.ts';
import { createYahooNewsSource, type YahooNewsSource } from '../../../producers/events/yahoo-news.ts';
import { fakeYahooNews, fixture } from './fake-yahoo-news.ts';

const logger = createLogger({ level: 'silent', format: 'json' });
const FAST = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000, maxConcurrent: 4 };
const NOW = Date.UTC(2026, 9, 2, 14, 16, 5);
const sources: YahooNewsSource[] = [];
function source(fake: ReturnType<typeof fakeYahooNews>, retries = 3): YahooNewsSource {
  const s = createYahooNewsSource({ newsPerSymbol: 10, resilience: { ...FAST, retries } }, { logger, fetch: fake.fetch });
  sources.push(s);
  return s;
}

beforeAll(() => { vi.spyOn(console, 'error').mockImplementation(() => {}); }); // yahoo-finance2 prints the URL of a failed request
afterEach(async () => { await Promise.all(sources.splice(0).map((s) => s.close?.())); });

describe('yahoo news source', () => {
  it('maps each article to a market event with a stable id, publisher as source and related tickers as symbols', async () => {
    const fake = fakeYahooNews();
    const events = await source(fake).fetch(['AAPL'], NOW);
    expect(events).toHaveLength(4);
    const byHeadline = new Map(events.map((e) => [e.headline, e]));
    expect(byHeadline.get('Apple shares rise after iPhone 18 preorders top estimates')).toEqual({
      id: eventId('yahoo', { sourceId: '9d0c4a1e-6f2b-3b8d-a7c5-0e4f1d2b3a61' }),
      symbols: ['AAPL'],
      headline: 'Apple shares rise after iPhone 18 preorders top estimates',
      summary: null,
      source: 'Bloomberg',
      url: 'https://finance.yahoo.com/news/apple-shares-rise-iphone-18-preorders-124530112.html',
      publishedAt: Date.UTC(2026, 9, 2, 13, 10),
      category: 'STORY',
      ingestTime: NOW,
    });
    // No relatedTickers: the symbol it was found under.
    expect(byHeadline.get("Watch: what the EU's Digital Markets Act ruling means for app stores"))
      .toMatchObject({ symbols: ['AAPL'], category: 'VIDEO', source: 'Yahoo Finance Video' });
    expect(events.map((e) => validateMarketEvent(e, NOW))).toEqual([null, null, null, null]);
    expect(events.every((e) => /^[0-9a-f]{32}$/.test(e.id))).toBe(true);
    expect(events.map((e) => e.publishedAt)).toEqual([...events.map((e) => e.publishedAt)].sort((a, b) => a - b)); // oldest first

    const url = new URL(fake.calls[0]!);
    expect(url.pathname).toBe('/v1/finance/search');
    expect(url.searchParams.get('q')).toBe('AAPL');
    expect(url.searchParams.get('newsCount')).toBe('10');
    expect(url.searchParams.get('quotesCount')).toBe('0');
  });

  it('returns an article found under several symbols once, with the same id on every fetch and in every process', async () => {
    const fake = fakeYahooNews();
    const first = await source(fake).fetch(['AAPL', 'MSFT'], NOW);
    expect(first).toHaveLength(5); // 4 + 2 articles, one of them under both symbols
    const shared = first.filter((e) => e.headline === 'Apple and Microsoft lead megacap gains as tech rally broadens');
    expect(shared).toHaveLength(1);
    expect(shared[0]!.symbols).toEqual(['AAPL', 'MSFT', '^GSPC']);
    expect(shared[0]!.id).toBe(eventId('yahoo', { sourceId: '5b1f2c0e-8a3d-3c1e-9f47-2d6b8e0a1c55' }));

    const again = await source(fakeYahooNews()).fetch(['MSFT', 'AAPL'], NOW + 300_000);
    expect(again.map((e) => e.id).sort()).toEqual(first.map((e) => e.id).sort());
  });

  it('retries a 500 and still returns the news; a symbol that keeps failing is skipped, the others arrive', async () => {
    const fake = fakeYahooNews();
    fake.script.set('AAPL', [fixture('error-500.json')]);
    expect(await source(fake).fetch(['AAPL'], NOW)).toHaveLength(4);
    expect(fake.searchCalls('AAPL')).toBe(2);

    const broken = fakeYahooNews();
    broken.failing.add('AAPL');
    const events = await source(broken, 1).fetch(['AAPL', 'MSFT'], NOW);
    expect(events.map((e) => e.headline).sort()).toEqual([
      'Apple and Microsoft lead megacap gains as tech rally broadens',
      'Microsoft to invest $10 billion in new AI data centers in Europe',
    ]);

    const down = fakeYahooNews();
    down.failing.add('AAPL');
    // Yahoo's own answer, after the retries: the 500 it kept sending, not some other failure.
    await expect(source(down, 1).fetch(['AAPL'], NOW))
      .rejects.toThrow(expect.objectContaining({ name: 'HTTPError', code: 500, message: expect.stringContaining('500 Internal Server Error') }));
  });
});
