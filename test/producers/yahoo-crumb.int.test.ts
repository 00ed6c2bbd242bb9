// Yahoo refusing its crumb (401 "Invalid Crumb"), seen from the price producer publishing quote ticks to Kafka and from
// the process's /health and /metrics (cli/observability): a revoked crumb is replaced on the same poll and nothing shows
// on /health; crumbs refused again and again open the circuit, which /health reports (503, state open, the last error)
// with the gauge at 2; once Yahoo honours its crumbs again the circuit goes half-open, then closed on the next poll, and
// the ticks reach Kafka again. Yahoo answers through yahoo-finance2's fetch hook (test/helpers/fake-yahoo.ts).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createYahooSource, type YahooSource } from '../../producers/sources/yahoo.ts';
import { priceUpdates } from '../../topics/index.ts';
import { fakeYahooFetch, yahooFixture, type Recorded } from '../helpers/fake-yahoo.ts';
import { scrape, sample } from '../helpers/metrics.ts';
import { waitFor } from '../helpers/index.ts';
import { producerTestbed } from './isolated-topics.ts';

/** The recorded quotes (AAPL, MSFT), `minutes` later: each poll brings new ticks. */
function quotesLater(minutes: number): Recorded {
  const r = structuredClone(yahooFixture('quote-AAPL-MSFT.json'));
  const body = r.response.bodyJson as { quoteResponse: { result: Array<{ regularMarketTime: number }> } };
  for (const q of body.quoteResponse.result) q.regularMarketTime += minutes * 60;
  return r;
}

const NOW = Date.UTC(2026, 9, 2, 14, 16, 5); // 5 s after the recorded quotes

interface CircuitHealth { state: string; since: string; lastError: { at: string; error: string } | null }

describe('yahoo crumb recovery, the circuit and /health', () => {
  const { config, logger, topics, publisher } = producerTestbed(priceUpdates, { prefix: 'test-yahoo-crumb', name: 'yahoo-crumb-test' });
  let obs: Observability;
  let source: YahooSource;
  let minute = 0;
  const fake = fakeYahooFetch((url) => (url.includes('/v7/finance/quote') ? quotesLater(minute) : undefined));

  beforeAll(async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {}); // yahoo-finance2 prints the URL of a failed request
    obs = await startObservability({ config: { ...config, METRICS_PORT: 0, METRICS_HOST: '127.0.0.1' }, logger, command: 'test produce prices',
      metrics: createMetrics() });
    obs.started();
  });
  afterAll(async () => {
    await source?.close?.();
    await obs?.close();
  });

  const health = async () => {
    const res = await fetch(`${obs.url}/health`);
    const body = await res.json() as { status: string; circuits: Record<string, CircuitHealth> };
    return { http: res.status, status: body.status, yahoo: body.circuits.yahoo! };
  };
  const gauge = async () => sample(await scrape(obs.url), 'marketstream_circuit_state', { upstream: 'yahoo' });

  it('replaces a revoked crumb on the same poll, opens the circuit while fresh crumbs are refused, and closes it once they are honoured', async () => {
    const topic = await topics.create();
    const resilience = { minBackoffMs: 1, maxBackoffMs: 5, ratePerSecond: 1000, failureThreshold: 3, resetTimeoutMs: 1000 };
    source = createYahooSource({ mode: 'quote', resilience }, { logger, fetch: fake.fetch, circuit: obs.circuit('yahoo') });
    const producer = createPriceProducer({ config, logger, publisher: obs.instrumentPublisher(publisher()), topic, source, symbols: ['AAPL', 'MSFT'],
      intervalMs: 60_000 });
    const poll = () => producer.publishOnce(NOW + ++minute * 60_000);

    expect(await poll()).toMatchObject({ published: 2 });
    expect(await health()).toMatchObject({ http: 200, status: 'ok', yahoo: { state: 'closed', lastError: null } });

    // Yahoo stops honouring the cached crumb: the same poll fetches a new one and publishes; the breaker saw no failure.
    fake.crumbs.revoke();
    expect(await poll()).toMatchObject({ published: 2 });
    expect(fake.crumbs.requests()).toBe(2);
    expect(await health()).toMatchObject({ http: 200, status: 'ok', yahoo: { state: 'closed', lastError: null } });

    // Yahoo refuses every crumb it hands out: each poll fails after one retry, and the third opens the circuit.
    fake.crumbs.refuseNew(true);
    fake.crumbs.revoke();
    const refusedAgain = /still refuses us after the crumb and cookies were renewed: Yahoo answered 401: Invalid Crumb/;
    for (let i = 0; i < 3; i++) await expect(poll()).rejects.toThrow(refusedAgain);
    const open = await health();
    expect(open).toMatchObject({ http: 503, status: 'degraded',
      yahoo: { state: 'open', lastError: { error: expect.stringMatching(/^YahooCrumbError \(YAHOO_CRUMB\)/) } } });
    expect(open.yahoo.lastError!.error).toContain('Invalid Crumb');
    expect(await gauge()).toBe(2);
    const quotesWhileOpen = fake.calls.filter((u) => u.includes('/v7/finance/quote')).length;
    await expect(poll()).rejects.toThrow(/circuit for yahoo is open/);
    expect(fake.calls.filter((u) => u.includes('/v7/finance/quote'))).toHaveLength(quotesWhileOpen); // not called while open

    // Yahoo honours its crumbs again: after the reset timeout the circuit is half-open, and the next poll closes it.
    fake.crumbs.refuseNew(false);
    const halfOpen = await waitFor(async () => { const h = await health(); return h.yahoo.state === 'half-open' ? h : null; },
      { what: '/health to show the yahoo circuit half-open', timeoutMs: 10_000, intervalMs: 50 });
    expect(halfOpen).toMatchObject({ http: 503, status: 'degraded' });
    expect(await gauge()).toBe(1);
    expect(await poll()).toMatchObject({ published: 2 });
    const closed = await health();
    expect(closed).toMatchObject({ http: 200, status: 'ok', yahoo: { state: 'closed' } });
    expect(Date.parse(closed.yahoo.since)).toBeGreaterThan(Date.parse(halfOpen.yahoo.since));
    expect(closed.yahoo.lastError).toEqual(open.yahoo.lastError); // the last failure stays on record, with its time
    expect(await gauge()).toBe(0);
    expect(await topics.count(topic)).toBe(6); // the three polls that succeeded
  });
});
