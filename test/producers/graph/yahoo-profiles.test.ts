// Yahoo company profiles through yahoo-finance2's fetch hook with recorded-format Yahoo responses (no network):
// quoteSummary assetProfile + price → profile, the crumb handshake, an unknown symbol reported missing (not retried),
// a 500 retried, a run failing only when Yahoo fails for every symbol, and a refused crumb (401 "Invalid Crumb")
// replaced by a fresh one, once for all the concurrent requests.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../lib/logger.ts';
import { YahooCrumbError } from '../../../lib/errors.ts';
import { createYahooProfileSource, type YahooProfileSource } from '../../../producers/graph/yahoo-profiles.ts';
import { fakeYahooFetch, yahooFixture as fixture, type Recorded } from '../../helpers/fake-yahoo.ts';

function fakeYahoo(script: Recorded[] = []) {
  const { fetch, calls, crumbs } = fakeYahooFetch((url) => {
    const m = /\/v10\/finance\/quoteSummary\/([^?]+)/.exec(url);
    return m ? script.shift() ?? fixture(m[1] === 'AAPL' ? 'quoteSummary-AAPL.json' : 'quoteSummary-NOPE-404.json') : undefined;
  });
  // Orders concurrent requests: `sent(match)` / `answered(match)` resolve once a matching request was made / answered;
  // `hold(match, until)` keeps the answer to the next matching request until `until` resolves.
  const waiters: Array<{ match: (url: string) => boolean; on: 'sent' | 'answered'; resolve: () => void }> = [];
  const holds: Array<{ match: (url: string) => boolean; until: Promise<void> }> = [];
  const notify = (url: string, on: 'sent' | 'answered') => {
    for (const w of waiters.filter((x) => x.on === on && x.match(url))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  const ordered = (async (input, init) => {
    const url = String(input);
    notify(url, 'sent');
    const res = await fetch(input, init);
    const h = holds.find((x) => x.match(url));
    if (h) { holds.splice(holds.indexOf(h), 1); await h.until; }
    notify(url, 'answered');
    return res;
  }) as typeof globalThis.fetch;
  const when = (on: 'sent' | 'answered') => (match: (url: string) => boolean) =>
    new Promise<void>((resolve) => { waiters.push({ match, on, resolve }); });
  return {
    fetch: ordered, calls, crumbs,
    summaryCalls: () => calls.filter((u) => u.includes('/v10/finance/quoteSummary/')),
    sent: when('sent'), answered: when('answered'),
    hold(match: (url: string) => boolean, until: Promise<void>) { holds.push({ match, until }); },
  };
}

const logger = createLogger({ level: 'silent', format: 'json' });
const FAST = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000, maxConcurrent: 4 };
const sources: YahooProfileSource[] = [];
const source = (fake: ReturnType<typeof fakeYahoo>, retries = 3, failureThreshold = 5) => {
  const s = createYahooProfileSource({ resilience: { ...FAST, retries, failureThreshold } }, { logger, fetch: fake.fetch });
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

  it('recovers from a 401 "Invalid Crumb": one fresh crumb for the concurrent requests, each retried once; an unknown symbol stays missing', async () => {
    const fake = fakeYahoo();
    const src = source(fake);
    expect((await src.profiles(['AAPL'])).profiles).toHaveLength(1);
    fake.crumbs.revoke();
    // Both requests carry the revoked crumb, and NOPE's refusal arrives only after AAPL recovered with a fresh crumb:
    // NOPE must take that crumb, not clear it and fetch yet another.
    const crumb = (url: string) => new URL(url).searchParams.get('crumb');
    const summary = (symbol: string, c?: () => string | undefined) => (url: string) =>
      url.includes(`/v10/finance/quoteSummary/${symbol}?`) && (!c || crumb(url) === c());
    fake.hold(summary('AAPL'), fake.sent(summary('NOPE')));
    fake.hold(summary('NOPE'), fake.answered(summary('AAPL', () => fake.crumbs.issued[1])));
    const { profiles, missing } = await src.profiles(['AAPL', 'NOPE']);
    expect(profiles.map((p) => p.symbol)).toEqual(['AAPL']);
    expect(missing).toEqual(['NOPE']); // its 404, once the crumb was honoured: no profile, not a failure
    expect(fake.crumbs.requests()).toBe(2); // both were refused, one asked for a new crumb
    const crumbOf = (symbol: string) => fake.summaryCalls().filter((u) => u.includes(`/${symbol}?`)).map(crumb);
    expect(crumbOf('AAPL')).toEqual([fake.crumbs.issued[0], fake.crumbs.issued[0], fake.crumbs.issued[1]]);
    expect(crumbOf('NOPE')).toEqual([fake.crumbs.issued[0], fake.crumbs.issued[1]]);
    expect(src.circuitState()).toBe('closed');
  });

  it('fails the run, and counts against the circuit, when Yahoo refuses fresh crumbs too (no symbol reported missing for it)', async () => {
    const fake = fakeYahoo();
    fake.crumbs.refuseNew(true);
    const src = source(fake, 3, 2);
    await expect(src.profiles(['AAPL'])).rejects.toBeInstanceOf(YahooCrumbError);
    expect(fake.summaryCalls()).toHaveLength(2); // refused, retried once with a fresh crumb
    expect(src.circuitState()).toBe('closed');
    await expect(src.profiles(['AAPL'])).rejects.toBeInstanceOf(YahooCrumbError);
    expect(src.circuitState()).toBe('open');
  });
});
