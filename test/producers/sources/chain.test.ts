// producers/sources/chain.ts with real sources against local protocol servers (test/helpers/fake-markets), no Kafka:
// what it asks, in which order, and what it hands on. The first answer is not a switch; a member that fails some
// symbols hands just those to the next without a switch; a bar any member already published is never offered again,
// whoever offers it; a restart's look at the topic moves the chain and its members past what was published; when no
// member can be asked the poll fails naming why; acknowledge reaches every member (a file only for a fetch it answered).
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransientError } from '../../../lib/errors.ts';
import { createLogger } from '../../../lib/logger.ts';
import { createAlphaVantageSource } from '../../../producers/sources/alphavantage.ts';
import { createSourceChain, type SourceChain } from '../../../producers/sources/chain.ts';
import { createFileSource } from '../../../producers/sources/file.ts';
import { createSyntheticSource } from '../../../producers/sources/synthetic.ts';
import { createTwelveDataSource } from '../../../producers/sources/twelvedata.ts';
import type { PriceFeed } from '../../../producers/sources/types.ts';
import { createYahooSource } from '../../../producers/sources/yahoo.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { FAKE_KEYS, sessionTime, startFakeMarket, type FakeMarket } from '../../helpers/fake-markets.ts';

const MINUTE = 60_000;
const FAST = { ratePerSecond: 1000, maxConcurrent: 1, retries: 0, minBackoffMs: 1, maxBackoffMs: 2, failureThreshold: 2, resetTimeoutMs: 60_000 };
const lines: string[] = [];
const logger = createLogger({ level: 'debug', destination: new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } }) });
const dir = mkdtempSync(path.join(tmpdir(), 'chain-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let market: FakeMarket;
let chain: SourceChain | undefined;
beforeEach(async () => {
  vi.spyOn(console, 'error').mockImplementation(() => {});
  const roomy = { perMinute: 100, perDay: 100 };
  market = await startFakeMarket({ symbols: ['AAPL', 'MSFT'], limits: { alphavantage: roomy, twelvedata: roomy } });
  lines.length = 0;
});
afterEach(async () => {
  await chain?.close?.();
  chain = undefined;
  await market.close();
});

const members = {
  // settleSeconds 0: Yahoo's bars final when published, so a bar it offers again is one it revised, not one that settled
  // (a provisional bar published again as final is Yahoo's own revision, tested in yahoo.test.ts).
  yahoo: (o: Record<string, unknown> = {}) => createYahooSource({ settleSeconds: 0, resilience: { ...FAST, ...o } }, { logger, fetch: market.yahooFetch }),
  alphavantage: (o: Record<string, unknown> = {}) => createAlphaVantageSource({ apiKey: FAKE_KEYS.alphavantage, baseUrl: market.alphavantage.url,
    resilience: FAST, callsPerMinute: 0, callsPerDay: 0, ...o }, { logger }),
  twelvedata: () => createTwelveDataSource({ apiKey: FAKE_KEYS.twelvedata, baseUrl: market.twelvedata.url, resilience: FAST, callsPerMinute: 0,
    callsPerDay: 0 }, { logger }),
};
const switches: Array<[string | null, string]> = [];
function makeChain(feeds: PriceFeed[]): SourceChain {
  switches.length = 0;
  chain = createSourceChain(feeds, { interval: '1m', lookbackMs: 15 * MINUTE }, { logger, onSwitch: (from, to) => switches.push([from, to]) });
  return chain;
}
/** One poll whose records Kafka acknowledged. */
async function poll(c: SourceChain, minute: number, symbols = ['AAPL', 'MSFT']): Promise<PriceUpdate[]> {
  market.now = sessionTime(minute, 5);
  const records = await c.fetch(symbols, market.now);
  c.acknowledge!(records);
  return records;
}
const logged = (msg: RegExp) => lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => msg.test(l.msg));

describe('source chain', () => {
  it('the first answer is not a switch; symbols a member fails go to the next without one', async () => {
    const c = makeChain([members.alphavantage({ callsPerMinute: 4, callsPerDay: 0 }), members.twelvedata()]);
    const first = await poll(c, 20, ['AAPL', 'MSFT', 'NOPE']); // NOPE: unknown to both
    expect(new Set(first.map((r) => r.source))).toEqual(new Set(['alphavantage']));
    expect(switches).toEqual([[null, 'alphavantage']]);
    expect(logged(/^price source: alphavantage answers$/)).toHaveLength(1);
    expect(logged(/no price source could fetch these symbols/)).toHaveLength(1);
    expect(c.status()).toMatchObject({ active: 'alphavantage', switches: 0, lastSwitch: null });
    // Alpha Vantage has one request of its four a minute left: AAPL from it, MSFT from Twelve Data; Alpha Vantage still answers.
    const second = await poll(c, 21);
    expect(second.map((r) => [r.symbol, r.source])).toEqual([['AAPL', 'alphavantage'], ['MSFT', 'twelvedata']]);
    expect(switches).toHaveLength(1);
    // Its minute spent, it is not asked: Twelve Data answers, a switch.
    const third = await poll(c, 22);
    expect(new Set(third.map((r) => r.source))).toEqual(new Set(['twelvedata']));
    expect(switches).toEqual([[null, 'alphavantage'], ['alphavantage', 'twelvedata']]);
    expect(c.status()).toMatchObject({ active: 'twelvedata', switches: 1, lastSwitch: { from: 'alphavantage', to: 'twelvedata',
      reason: expect.stringMatching(/^alphavantage: rate limit reached; next call at /) } });
    expect(market.alphavantage.calls).toHaveLength(4);
  });

  it('never offers a bar twice, whoever offers it: a member that takes over starts after the last bar published', async () => {
    const c = makeChain([members.yahoo({ resetTimeoutMs: 50 }), members.alphavantage()]);
    const first = await poll(c, 20);
    expect(first.every((r) => r.source === 'yahoo')).toBe(true);
    // Yahoo fails: Alpha Vantage's answer covers its 100 latest bars, but only the one after the last published is new.
    market.yahoo.fail = 'server-error';
    const second = await poll(c, 22);
    expect(second.map((r) => [r.symbol, (r.eventTime - sessionTime(0)) / MINUTE, r.source])).toEqual([
      ['AAPL', 20, 'alphavantage'], ['AAPL', 21, 'alphavantage'], ['MSFT', 20, 'alphavantage'], ['MSFT', 21, 'alphavantage'],
    ]);
    expect(logged(/^price source switched: alphavantage answers instead of yahoo$/)).toHaveLength(1);
    // Yahoo's own cursor heard Alpha Vantage's bars: asked directly (its trial call once half-open), it offers nothing already published.
    market.yahoo.fail = 'ok';
    const yahoo = c.members[0]!;
    await vi.waitFor(() => expect(yahoo.health!().circuit).toBe('half-open'));
    expect(await yahoo.fetch(['AAPL'], sessionTime(22, 5))).toEqual([]);
    expect(yahoo.health!().circuit).toBe('closed');
  });

  it('a restart\'s look at the topic: the chain and its members start after the last bars published', async () => {
    const synthetic = createSyntheticSource({ calendar: '24x7' });
    const c = makeChain([members.alphavantage(), synthetic]);
    expect(c.resumeQuery!(sessionTime(30))).toEqual({ interval: '1m', since: sessionTime(30) - 16 * MINUTE });
    c.resume!(new Map([['AAPL', sessionTime(27)], ['MSFT', sessionTime(28)]]));
    const records = await poll(c, 30);
    expect(records.map((r) => [r.symbol, (r.eventTime - sessionTime(0)) / MINUTE])).toEqual([['AAPL', 28], ['AAPL', 29], ['MSFT', 29]]);
    // Synthetic heard it too: when it takes over it regenerates from there, not from its own start.
    market.alphavantage.fail = 'server-error';
    const fallback = await poll(c, 32);
    expect(fallback.map((r) => [r.symbol, (r.eventTime - sessionTime(0)) / MINUTE, r.source])).toEqual([
      ['AAPL', 30, 'synthetic'], ['MSFT', 30, 'synthetic'], ['AAPL', 31, 'synthetic'], ['MSFT', 31, 'synthetic'],
    ]);
  });

  it('when no member can be asked, the poll fails and says why; a member past its rate limit is skipped without a request', async () => {
    const av = members.alphavantage({ callsPerMinute: 2, callsPerDay: 0 });
    const c = makeChain([av, members.twelvedata()]);
    await poll(c, 40);
    expect(av.health!()).toMatchObject({ available: false });
    const before = market.alphavantage.calls.length;
    market.twelvedata.fail = 'bad-key';
    await expect(c.fetch(['AAPL'], sessionTime(41, 5))).rejects.toThrow(TransientError);
    await expect(c.fetch(['AAPL'], sessionTime(41, 5))).rejects.toThrow(
      new RegExp('^no price source answered: alphavantage: rate limit reached; next call at \\S+; '
        + 'twelvedata: (Twelve Data time_series AAPL: 401|circuit for twelvedata is open)'));
    expect(market.alphavantage.calls.length).toBe(before);
    expect(c.status().members.map((m) => [m.name, m.available])).toEqual([['alphavantage', false], ['twelvedata', false]]);
  });

  it('acknowledge reaches every member but a file, which hears only a fetch it answered; a chain of files ends with them', async () => {
    const file = path.join(dir, 'bars.csv');
    writeFileSync(file, ['symbol,interval,ts,open,high,low,close,volume', 'AAPL,1m,2026-10-02T14:00:00Z,1,2,1,2,10',
      'AAPL,1m,2026-10-02T14:01:00Z,2,3,2,3,10'].join('\n'));
    const fileMember = createFileSource({ path: file });
    const c = makeChain([members.alphavantage(), fileMember]);
    market.alphavantage.fail = 'server-error';
    const fromFile = await c.fetch(['AAPL'], sessionTime(1, 5));
    expect(fromFile.map((r) => r.source)).toEqual(['file', 'file']);
    // Their send failed (no acknowledge); Alpha Vantage answers the next poll, which is acknowledged: the file's rows stay
    // unacknowledged, so the file offers them again.
    market.alphavantage.fail = 'ok';
    c.acknowledge!(await c.fetch(['AAPL'], sessionTime(3, 5)));
    expect((await fileMember.fetch(['AAPL'], sessionTime(3, 5))).map((r) => r.eventTime)).toEqual([Date.UTC(2026, 9, 2, 14), Date.UTC(2026, 9, 2, 14, 1)]);

    const only = makeChain([createFileSource({ path: file })]);
    expect(only.exhausted!()).toBe(false);
    only.acknowledge!(await only.fetch([], Date.now()));
    expect(only.exhausted!()).toBe(true);
  });
});
