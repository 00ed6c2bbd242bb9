// One Claude budget for the whole enricher group, against the real Kafka, registry and PostgreSQL (Claude played by the
// stand-in Messages API): four members of one group (`consume enricher --instances 4`: each member has its own
// classifier, pool and Claude client, as separate processes would) spend from one hourly allowance kept in PostgreSQL,
// and a call reserves its estimate only when its request is sent (inside its concurrency slot), so a batch waiting for
// slots holds nothing.
// - A budget that fits 200 answers (200 × 300 tokens) plus the estimates of the requests in flight (4 members × 2
//   slots), far below what 200 reservations made while queuing would need: every event is classified by Claude.
// - A budget smaller than the demand (a quarter of it): the four members together never spend more than it; with a
//   budget per member they could have spent four times as much.
import { AssignerProtocol, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claudeBudgetScope } from '../../../consumers/enricher/classifier.ts';
import { requestEstimate } from '../../../consumers/enricher/claude-classifier.ts';
import { toClassify } from '../../../consumers/enricher/types.ts';
import { groupIdOf } from '../../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { MarketEvent } from '../../../schemas/types.generated.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { deleteEventRows, deleteTestTopics, eventFactory, randomName, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const EVENTS = 200;
const MEMBERS = 4;
const CONCURRENCY = 2;
/** What the stand-in API reports per request: 250 input + 50 output tokens. */
const TOKENS_PER_CALL = 300;
const ANSWER = {
  type: 'product', sentiment: 'positive', sentiment_score: 0.5,
  affected: [{ symbol: 'AAPL', relevance: 1 }], rationale: 'A product launch.',
};

const logger = testLogger('enricher-shared-budget');
const base = testConfig();
const kafka = testKafka(base);
const events = eventFactory({ symbols: ['AAPL'], summary: null, category: null });
const topicNames: string[] = [];
const scopes: string[] = [];
let pool: Pool;
let admin: Admin;
let publisher: Publisher;
let fake: FakeAnthropic;

beforeAll(async () => {
  pool = createPgPool(base, { max: 2 });
  await migrate(pool);
  admin = kafka.admin();
  await admin.connect();
  publisher = createPublisher({ kafka, serde: createSerde(base), logger });
  await publisher.connect();
  fake = await startFakeAnthropic();
  fake.setDefault(() => ({ ...toolUseResponse(ANSWER, { inputTokens: 250, outputTokens: 50 }), delayMs: 15 }));
});
afterAll(async () => {
  await publisher?.disconnect();
  await admin?.disconnect();
  await fake?.close();
  await deleteEventRows(pool, events.ids);
  await pool.query('DELETE FROM claude_budget_spend WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await pool.query('DELETE FROM claude_budget_scopes WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await pool.end();
  await deleteTestTopics(kafka, topicNames);
});

/** Four enricher members of one new group, with `tokenBudget` per rolling hour; runs `body`, then stops them. */
async function withGroup(tokenBudget: number, body: (g: { config: Config; scope: string; topics: { events: typeof marketEvents } }) => Promise<void>) {
  const topics = {
    prices: withName(priceUpdates, randomName('test-prices')),
    events: withName(marketEvents, randomName('test-events')),
    mutations: withName(graphMutations, randomName('test-mutations')),
  };
  topicNames.push(...Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  const config = testConfig({
    KAFKA_GROUP_PREFIX: randomName('test-budget'), SINK_RETRY_MAX_MS: '1000', LOG_LEVEL: 'warn',
    ANTHROPIC_API_KEY: 'sk-ant-test-budget', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: '1',
    CLAUDE_MAX_CONCURRENCY: String(CONCURRENCY), CLAUDE_HOURLY_TOKEN_BUDGET: String(tokenBudget), CLAUDE_HOURLY_COST_BUDGET_USD: '0',
  });
  const scope = claudeBudgetScope(config);
  scopes.push(scope);
  const running: RunningSinks = await startSinks({ config, logger, names: ['enricher'], instances: MEMBERS, topics });
  try {
    const groupId = groupIdOf(config, 'enricher');
    expect(scope).toBe(groupId); // the budget is the group's
    // Every member holds partitions before the events arrive (no rebalance in the middle of the test).
    await waitFor(async () => {
      const g = (await admin.describeGroups([groupId])).groups[0];
      if (g?.state !== 'Stable' || g.members.length !== MEMBERS) return false;
      return g.members.every((m) => (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topics.events.name]?.length ?? 0) > 0);
    }, { what: `${MEMBERS} enricher members sharing the partitions`, timeoutMs: 90_000 });
    await body({ config, scope, topics });
  } finally {
    await running.stop();
  }
}

async function publishEvents(topic: typeof marketEvents): Promise<MarketEvent[]> {
  const es = Array.from({ length: EVENTS }, (_, i) => events.newEvent({ headline: `Apple launches product number ${i}` }));
  await publisher.send(topic, es, { source: 'test' });
  return es;
}

async function classifiedBy(ids: readonly string[]) {
  const { rows } = await pool.query<{ classifier: string; fallback_reason: string | null }>(
    'SELECT classifier, fallback_reason FROM event_classifications WHERE event_id = ANY($1)', [ids]);
  return rows;
}

async function recordedSpend(scope: string): Promise<{ tokens: number; calls: number }> {
  const { rows } = await pool.query(
    'SELECT coalesce(sum(tokens), 0)::int AS tokens, coalesce(sum(calls), 0)::int AS calls FROM claude_budget_spend WHERE scope = $1', [scope]);
  return rows[0];
}

describe('enricher group: one Claude budget for every member', () => {
  /** Publishes EVENTS new events and waits until each is classified: the Claude requests made before, and the rows. */
  async function classifyAllEvents(topic: Parameters<typeof publishEvents>[0]) {
    const before = fake.requests.length;
    const ids = (await publishEvents(topic)).map((e) => e.id);
    await waitFor(async () => (await classifiedBy(ids)).length === EVENTS, { what: `${EVENTS} events classified`, timeoutMs: 120_000 });
    return { before, rows: await classifiedBy(ids) };
  }

  it('classifies 200 events by Claude across four members with a budget that fits them and the requests in flight', async () => {
    // The largest reservation a request makes (the estimate of its input, and the output at its maximum).
    const probe = events.newEvent({ headline: `Apple launches product number ${EVENTS}` });
    const estimate = requestEstimate(toClassify(probe));
    const inFlight = MEMBERS * CONCURRENCY * (estimate.inputTokens + estimate.outputTokens);
    const budget = EVENTS * TOKENS_PER_CALL + inFlight + 10 * TOKENS_PER_CALL;
    // Reservations made while waiting for a slot would need one estimate per queued event: far more than the budget.
    expect(budget).toBeLessThan(EVENTS * (estimate.inputTokens + estimate.outputTokens) / 4);

    await withGroup(budget, async ({ scope, topics }) => {
      const { before, rows } = await classifyAllEvents(topics.events);
      expect(rows.filter((r) => r.classifier === 'claude')).toHaveLength(EVENTS);
      expect(rows.filter((r) => r.fallback_reason !== null)).toEqual([]);

      const spent = await recordedSpend(scope);
      const requests = fake.requests.length - before;
      expect(requests).toBeGreaterThanOrEqual(EVENTS);
      expect(spent).toEqual({ tokens: requests * TOKENS_PER_CALL, calls: requests }); // every estimate settled to the real usage
      expect(spent.tokens).toBeLessThanOrEqual(budget);
      expect(fake.peakConcurrency).toBeLessThanOrEqual(MEMBERS * CONCURRENCY);
    });
  });

  it('never lets the four members together spend more than a budget smaller than the demand', async () => {
    const budget = (EVENTS * TOKENS_PER_CALL) / MEMBERS; // a quarter of the demand: a budget per member would have covered it all
    await withGroup(budget, async ({ scope, topics }) => {
      const { before, rows } = await classifyAllEvents(topics.events);
      const claude = rows.filter((r) => r.classifier === 'claude').length;
      const budgetFallbacks = rows.filter((r) => r.classifier === 'rules' && r.fallback_reason === 'budget').length;
      expect(claude).toBeGreaterThan(0);
      expect(claude + budgetFallbacks).toBe(EVENTS);

      const requests = fake.requests.length - before;
      const spent = await recordedSpend(scope);
      expect(spent).toEqual({ tokens: requests * TOKENS_PER_CALL, calls: requests });
      expect(spent.tokens).toBeLessThanOrEqual(budget);
      expect(requests).toBeLessThanOrEqual(budget / TOKENS_PER_CALL); // 50, where four budgets would have allowed 200
    });
  });
});
