// doctor's price sources (ops/doctor/sources.ts): what PRICE_SOURCE configures, each provider's key and limits (never
// the key itself), and what a running producer's /health says of its chain, from a local server answering as /health
// does (the real one is tested with the chain in test/producers/source-chain.int.test.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPriceSources, defaultHealthUrl } from '../../ops/doctor/sources.ts';
import type { SourceChainStatus } from '../../producers/sources/chain.ts';
import { testConfig } from '../helpers/index.ts';

let body: unknown = {};
let server: http.Server;
let url = '';
beforeAll(async () => {
  server = http.createServer((_req, res) => { res.writeHead(503, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const chainStatus = (active: string): SourceChainStatus => ({
  chain: ['yahoo', 'alphavantage', 'twelvedata'], active, activeSince: '2026-10-02T14:21:05.000Z', switches: 1,
  lastSwitch: { from: 'yahoo', to: 'alphavantage', at: '2026-10-02T14:21:05.000Z', reason: 'yahoo: Yahoo answered 429' },
  members: [
    { name: 'yahoo', circuit: 'open', available: false, reason: 'circuit open', lastError: { at: '2026-10-02T14:21:04.000Z', error: 'HTTPError' } },
    { name: 'alphavantage', circuit: 'closed', available: true, lastError: null,
      rateLimit: { windows: [{ label: 'per minute', limit: 5, used: 2 }, { label: 'per day', limit: 25, used: 2 }], blockedUntil: null, nextCallAt: null } },
    { name: 'twelvedata', circuit: 'closed', available: true, lastError: null },
  ],
});

describe('doctor: price sources', () => {
  it('one source: says so; a running chain answering through a fallback warns and says who and why', async () => {
    body = { command: 'produce prices', pid: 42, sources: chainStatus('alphavantage') };
    const [single, running] = await checkPriceSources(testConfig({ PRICE_SOURCE: 'synthetic' }), { timeoutMs: 2000, healthUrl: url });
    expect(single).toMatchObject({ id: 'sources.chain', status: 'info', summary: 'synthetic (one source, no failover)' });
    expect(running).toMatchObject({ id: 'sources.live', status: 'warn', data: { active: 'alphavantage', switches: 1 } });
    expect(running!.summary).toBe('produce prices (pid 42): alphavantage answers since 2026-10-02T14:21:05.000Z, 1 switch; last yahoo → alphavantage at '
      + '2026-10-02T14:21:05.000Z (yahoo: Yahoo answered 429). yahoo: circuit open, not available (circuit open); alphavantage: circuit closed, '
      + 'available, rate limit 2/5 per minute, 2/25 per day; twelvedata: circuit closed, available');
    expect(running!.hint).toMatch(/^yahoo is not answering/);
    body = { command: 'produce prices', pid: 42, sources: chainStatus('yahoo') };
    const [, ok] = await checkPriceSources(testConfig(), { timeoutMs: 2000, healthUrl: url });
    expect(ok).toMatchObject({ status: 'ok' });
  });

  it('a chain: each provider\'s key set or not (never shown) with its limits; FAIL only when that provider is the only source', async () => {
    const key = 'av-secret-key-789';
    const checks = await checkPriceSources(testConfig({ PRICE_SOURCE: 'yahoo,alphavantage,twelvedata', ALPHAVANTAGE_API_KEY: key, TWELVEDATA_API_KEY: '',
      ALPHAVANTAGE_REQUESTS_PER_DAY: '0' }), { timeoutMs: 2000, healthUrl: url });
    expect(checks.map((c) => [c.id, c.status, c.summary])).toMatchObject([
      ['sources.chain', 'info', 'yahoo → alphavantage → twelvedata: yahoo answers while it can, each next one takes over when those before it fail'],
      ['sources.alphavantage', 'ok', 'API key set; rate limit 5 requests/min, unlimited/day'],
      ['sources.twelvedata', 'warn', 'no API key: TWELVEDATA_API_KEY is empty, so twelvedata is never asked'],
      ['sources.live', expect.any(String), expect.any(String)],
    ]);
    expect(JSON.stringify(checks)).not.toContain(key);
    const [, alone] = await checkPriceSources(testConfig({ PRICE_SOURCE: 'twelvedata', TWELVEDATA_API_KEY: '' }), { timeoutMs: 2000, healthUrl: url });
    expect(alone).toMatchObject({ status: 'fail', hint: expect.stringMatching(/^set TWELVEDATA_API_KEY/) });
  });

  it('nothing on METRICS_PORT, or a process without a chain: information only', async () => {
    body = { command: 'consume postgres', pid: 7 };
    expect((await checkPriceSources(testConfig(), { timeoutMs: 2000, healthUrl: url })).at(-1)).toMatchObject({ status: 'info',
      summary: `consume postgres (pid 7) at ${url} runs no source chain` });
    const closed = 'http://127.0.0.1:1/health';
    expect((await checkPriceSources(testConfig(), { timeoutMs: 2000, healthUrl: closed })).at(-1)).toMatchObject({ status: 'info',
      summary: expect.stringMatching(/^no process answered at http:\/\/127.0.0.1:1\/health/) });
    expect(defaultHealthUrl({ METRICS_HOST: '0.0.0.0', METRICS_PORT: 9464 })).toBe('http://127.0.0.1:9464/health');
  });
});
