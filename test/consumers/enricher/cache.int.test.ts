// Classifications cached by event id in the REAL PostgreSQL: a replay never calls Claude again, concurrent
// calls share one request, two "processes" agree on one stored answer, fallbacks are cached with their reason
// and an explicit refresh overwrites them, and an answer survives a PostgreSQL outage without a second bill.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClassifier, type EventClassifier } from '../../../consumers/enricher/classifier.ts';
import type { EventToClassify } from '../../../consumers/enricher/types.ts';
import { createPgPool, type Pool } from '../../../lib/stores/postgres.ts';
import { errorResponse, startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { deleteEventRows, eventFactory, randomName, testConfig, testLogger, waitFor } from '../../helpers/index.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';

const answer = (score: number) => ({
  type: 'merger_acquisition', sentiment: 'positive', sentiment_score: score,
  affected: [{ symbol: 'MSFT', relevance: 1 }], rationale: 'Microsoft agreed to buy a studio.',
});
const logger = testLogger('enricher-cache');
// A group of its own: the Claude budget is shared per enricher group (in PostgreSQL), not with other tests.
const config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-cache') });
let pool: Pool;
let fake: FakeAnthropic;
const events = eventFactory({ headline: 'Microsoft to acquire gaming studio', summary: null, symbols: ['MSFT'], source: 'test' });
const open: EventClassifier[] = [];

/** What the classifier sees of a market event. */
function newEvent(): EventToClassify {
  const { id, headline, summary, symbols, source } = events.newEvent();
  return { id, headline, summary: summary ?? null, symbols, publishedAt: Date.now(), source };
}

function claude(p: Pool, server: FakeAnthropic = fake): EventClassifier {
  const c = createClassifier({
    config: testConfig({ KAFKA_GROUP_PREFIX: config.KAFKA_GROUP_PREFIX, ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: server.url,
      CLAUDE_MAX_RETRIES: '1' }),
    logger, pool: p, claude: { minBackoffMs: 1, maxBackoffMs: 5 },
  });
  open.push(c);
  return c;
}

async function storedRow(id: string) {
  const { rows } = await pool.query('SELECT classification, classifier, model, fallback_reason FROM event_classifications WHERE event_id = $1', [id]);
  return rows[0];
}

beforeAll(async () => {
  pool = createPgPool(config, { max: 4 });
  // PostgreSQL is brought up by the stack; wait for it to answer rather than start it.
  await waitFor(() => pool.query('SELECT 1').then(() => true), { timeoutMs: 60_000, what: 'PostgreSQL' });
});
beforeEach(async () => { fake = await startFakeAnthropic(); });
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await fake.close();
});
afterAll(async () => {
  await deleteEventRows(pool, events.ids);
  await pool.query('DELETE FROM claude_budget_spend WHERE scope = $1', [`${config.KAFKA_GROUP_PREFIX}.enricher`]).catch(() => {});
  await pool.query('DELETE FROM claude_budget_scopes WHERE scope = $1', [`${config.KAFKA_GROUP_PREFIX}.enricher`]).catch(() => {});
  await pool.end();
});

describe('classification cache (PostgreSQL)', () => {
  it('answers a replayed event from PostgreSQL without calling Claude again, even from a new process', async () => {
    const event = newEvent();
    fake.setDefault(() => toolUseResponse(answer(0.6)));
    const first = await claude(pool).classify(event);
    expect(first).toMatchObject({ classifier: 'claude', model: 'claude-haiku-5-5', type: 'merger_acquisition', sentimentScore: 0.6 });
    expect(fake.requests).toHaveLength(1);

    const again = await claude(pool).classify(event); // a fresh classifier: nothing in memory
    expect(again).toEqual(first);
    expect(fake.requests).toHaveLength(1);
    expect(await storedRow(event.id)).toMatchObject({ classification: first, classifier: 'claude', model: 'claude-haiku-5-5', fallback_reason: null });
  });

  it('makes one Claude request for concurrent calls with the same event id', async () => {
    const event = newEvent();
    fake.setDefault(() => ({ ...toolUseResponse(answer(0.6)), delayMs: 200 }));
    const c = claude(pool);
    const results = await Promise.all(Array.from({ length: 5 }, () => c.classify(event)));
    expect(fake.requests).toHaveLength(1);
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
  });

  it('returns the one stored answer to two processes that classified the same event at once', async () => {
    const event = newEvent();
    const other = await startFakeAnthropic();
    try {
      fake.setDefault(() => ({ ...toolUseResponse(answer(0.9)), delayMs: 100 }));
      other.setDefault(() => ({ ...toolUseResponse(answer(0.1)), delayMs: 100 }));
      const poolB = createPgPool(config, { max: 2 }); // the second "process" has its own pool
      try {
        const [a, b] = await Promise.all([claude(pool).classify(event), claude(poolB, other).classify(event)]);
        expect(a).toEqual(b); // whoever stored first wins, for both
        expect([0.9, 0.1]).toContain(a.sentimentScore);
        expect((await storedRow(event.id)).classification).toEqual(a);
      } finally {
        await poolB.end();
      }
    } finally {
      await other.close();
    }
  });

  it('caches a rules fallback with its reason so a replay does not bill Claude; refresh overwrites it', async () => {
    const event = newEvent();
    fake.setDefault(errorResponse(503, 'overloaded_error', 'Overloaded'));
    const fallback = await claude(pool).classify(event);
    expect(fallback).toMatchObject({ classifier: 'rules', model: 'rules-v1', fallbackReason: 'api-error: 503 overloaded_error: Overloaded' });
    expect(await storedRow(event.id)).toMatchObject({ classifier: 'rules', model: 'rules-v1', fallback_reason: 'api-error: 503 overloaded_error: Overloaded' });
    const failedRequests = fake.requests.length;

    fake.setDefault(() => toolUseResponse(answer(0.4))); // Claude is back
    const c = claude(pool);
    expect(await c.classify(event)).toEqual(fallback); // replay: cached, no call
    expect(fake.requests).toHaveLength(failedRequests);

    const refreshed = await c.classify(event, { refresh: true }); // explicit re-enrich
    expect(refreshed).toMatchObject({ classifier: 'claude', sentimentScore: 0.4 });
    expect(await storedRow(event.id)).toMatchObject({ classifier: 'claude', fallback_reason: null });
    expect(await c.classify(event)).toEqual(refreshed);
  });

  it('uses and caches the rule-based classifier when no API key is set', async () => {
    const event = newEvent();
    const c = createClassifier({ config: testConfig({ ANTHROPIC_API_KEY: '' }), logger, pool });
    open.push(c);
    expect(c.primary).toBe('rules');
    const r = await c.classify(event);
    expect(r).toMatchObject({ classifier: 'rules', model: 'rules-v1', type: 'merger_acquisition' });
    expect(r.fallbackReason).toBeUndefined();
    expect(await storedRow(event.id)).toMatchObject({ classifier: 'rules', fallback_reason: null });
  });

  it('keeps an answer through a PostgreSQL outage and stores it later without asking Claude again', async () => {
    const event = newEvent();
    const url = new URL(config.POSTGRES_URL);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.host = `127.0.0.1:${proxy.port}`;
    const proxied = createPgPool(testConfig({ POSTGRES_URL: url.toString() }), { max: 1 });
    try {
      // The network to PostgreSQL goes down while Claude is answering: after the cache lookup, before the insert.
      fake.setDefault(() => { proxy.cut(); return toolUseResponse(answer(0.3)); });
      const c = claude(proxied);
      const failure = await c.classify(event).catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: 'TRANSIENT', retriable: true });
      expect(fake.requests).toHaveLength(1);

      proxy.restore();
      const stored = await c.classify(event); // the runner's retry
      expect(stored).toMatchObject({ classifier: 'claude', sentimentScore: 0.3 });
      expect(fake.requests).toHaveLength(1);
      expect((await storedRow(event.id)).classification).toEqual(stored);
    } finally {
      await proxied.end();
      await proxy.close();
    }
  });
});
