// Yahoo company profiles through yahoo-finance2's fetch hook with recorded-format Yahoo responses (no network):
// quoteSummary assetProfile + price → profile, the crumb handshake, an unknown symbol reported missing (not retried),
// a 500 retried, and a run failing only when Yahoo fails for every symbol.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';
import { createYahooProfileSource, type YahooProfileSource } from '../../../producers/graph/yahoo-profiles.ts';
import { fakeYahooFetch, yahooFixture as fixture, type Recorded } from '../../helpers/fake-yahoo.ts';

function fakeYahoo(script: Recorded[] = []) {
  const { fetch, calls } = fakeYahooFetch((url) => {
    const m = /\/v10\/finance\/quoteSummary\/([^?]+)/.exec(url);
    return m ? script.shift() ?? fixture(m[1] === 'AAPL' ? 'quoteSummary-AAPL.json' : 'quoteSummary-NOPE-404.json') : undefined;
  });
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
    // Yahoo's own answer, after the retries: the 500 it kept sending, not some other failure.
    await expect(source(down, 1).profiles(['AAPL']))
      .rejects.toThrow(expect.objectContaining({ name: 'HTTPError', code: 500, message: expect.stringContaining('500 Internal Server Error') }));
  });
});
