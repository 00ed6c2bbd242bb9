// A fake Yahoo for the news source: answers yahoo-finance2's search requests from recorded responses
// (test/fixtures/yahoo/search-<SYMBOL>-news.json) through the library's fetch hook (test/helpers/fake-yahoo.ts);
// failures can be scripted per symbol.
import { fakeYahooFetch, yahooFixture, type Recorded } from '../../helpers/fake-yahoo.ts';

export { yahooFixture as fixture };

export function fakeYahooNews() {
  /** Per symbol, answers to use before the recorded news (e.g. an error-500). */
  const script = new Map<string, Recorded[]>();
  const failing = new Set<string>();
  const { fetch, calls } = fakeYahooFetch((url) => {
    if (!url.includes('/v1/finance/search')) return undefined;
    const symbol = new URL(url).searchParams.get('q') ?? '';
    if (failing.has(symbol)) return yahooFixture('error-500.json');
    return script.get(symbol)?.shift() ?? yahooFixture(`search-${symbol}-news.json`);
  });
  return {
    fetch, calls, script, failing,
    searchCalls: (symbol?: string) => calls.filter((u) => u.includes('/v1/finance/search') && (!symbol || new URL(u).searchParams.get('q') === symbol)).length,
  };
}
