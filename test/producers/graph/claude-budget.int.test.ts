// The competitor finder spends from the one Claude budget every process that calls Claude shares in the REAL
// PostgreSQL (lib/claude/shared-budget.ts, scope claudeBudgetScope): what the enricher group spent counts against it,
// two graph-producer processes never get an allowance each, and an attempt that timed out keeps its reservation (it may
// have been billed) while one the API refused gives it back (issue #22 item 8). Claude is the local Messages API server.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claudeBudgetScope, createSharedBudget } from '../../../lib/claude/index.ts';
import type { Config } from '../../../lib/config.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import { COMPETITORS_TOOL_NAME } from '../../../producers/graph/claude-competitors.ts';
import { createCompetitorFinder } from '../../../producers/graph/competitor-finder.ts';
import type { CompetitorFinder } from '../../../producers/graph/competitors.ts';
import type { CompanyProfile } from '../../../producers/graph/profiles.ts';
import { errorResponse, startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { randomName, testConfig, testLogger } from '../../helpers/index.ts';

const logger = testLogger('competitors-budget');
const nvda: CompanyProfile = { symbol: 'NVDA', name: 'NVIDIA Corporation', sector: 'Technology', industry: 'Semiconductors', exchange: 'NasdaqGS' };
const amd: CompanyProfile = { symbol: 'AMD', name: 'Advanced Micro Devices, Inc.', sector: 'Technology', industry: 'Semiconductors', exchange: 'NasdaqGS' };
const universe = [nvda, amd];
const answer = toolUseResponse({ competitors: [{ symbol: 'AMD', name: 'AMD', confidence: 0.9 }] },
  { name: COMPETITORS_TOOL_NAME, inputTokens: 700, outputTokens: 100 });

let pool: Pool;
let fake: FakeAnthropic;
const scopes: string[] = [];
const finders: CompetitorFinder[] = [];
const pools: Pool[] = [];

/** A config of its own (a random group prefix, so a scope of its own) with Claude at the local server. */
function claudeConfig(o: Record<string, string> = {}): Config {
  const config = testConfig({
    KAFKA_GROUP_PREFIX: randomName('test-claude-budget'), ANTHROPIC_API_KEY: 'sk-ant-test-budget', ANTHROPIC_BASE_URL: fake.url,
    CLAUDE_MAX_RETRIES: '0', ...o,
  });
  scopes.push(claudeBudgetScope(config));
  return config;
}

/** A finder as one graph-producer process builds it: its own pool. */
function finderOf(config: Config, timeoutMs?: number): CompetitorFinder {
  const p = createPgPool(config, { max: 2 });
  pools.push(p);
  const f = createCompetitorFinder({ config, logger, pool: p, claude: { minBackoffMs: 1, maxBackoffMs: 5, ...(timeoutMs ? { timeoutMs } : {}) } });
  finders.push(f);
  return f;
}

async function spent(scope: string) {
  const { rows } = await pool.query<{ tokens: number; calls: number }>(
    'SELECT coalesce(sum(tokens), 0)::int AS tokens, coalesce(sum(calls), 0)::int AS calls FROM claude_budget_spend WHERE scope = $1', [scope]);
  return rows[0]!;
}

beforeAll(async () => {
  pool = createPgPool(testConfig(), { max: 2 });
  await migrate(pool);
});
beforeEach(async () => { fake = await startFakeAnthropic(); });
afterEach(async () => {
  await Promise.all(finders.splice(0).map((f) => f.close()));
  await fake.close();
});
afterAll(async () => {
  await pool.query('DELETE FROM claude_budget_spend WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await pool.query('DELETE FROM claude_budget_scopes WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await Promise.all(pools.map((p) => p.end()));
  await pool.end();
});

describe('competitor finder and the shared Claude budget', () => {
  it('spends from the budget the enricher group spends from: once the group used the hour, Claude is not called', async () => {
    const config = claudeConfig({ CLAUDE_HOURLY_TOKEN_BUDGET: '20000' });
    fake.setDefault(answer);
    const enricher = createSharedBudget({ pool, scope: claudeBudgetScope(config), logger,
      limits: { tokensPerHour: config.CLAUDE_HOURLY_TOKEN_BUDGET, costUsdPerHour: 0 } });
    await (await enricher.tryReserve(19_500, 0))!.settle(19_500, 0);
    const a = await finderOf(config).find(nvda, universe);
    expect(a).toMatchObject({ source: 'profile-industry', fallbackReason: 'budget' });
    expect(fake.requests).toHaveLength(0);
  });

  it('two graph-producer processes share one allowance: together they make only the calls that fit', async () => {
    // An estimate is about 2,000 tokens; each call really uses 10,000: two fit in 20,000 tokens, whichever process asks.
    const config = claudeConfig({ CLAUDE_HOURLY_TOKEN_BUDGET: '20000' });
    fake.setDefault(toolUseResponse({ competitors: [] }, { name: COMPETITORS_TOOL_NAME, inputTokens: 9_900, outputTokens: 100 }));
    const [p1, p2] = [finderOf(config), finderOf(config)];
    const answers = [];
    for (const f of [p1!, p2!, p1!, p2!]) answers.push(await f.find(nvda, universe));
    expect(answers.map((x) => x.source)).toEqual(['claude', 'claude', 'profile-industry', 'profile-industry']);
    expect(fake.requests).toHaveLength(2);
    expect(await spent(claudeBudgetScope(config))).toEqual({ tokens: 20_000, calls: 2 });
  });

  it('a timed-out attempt keeps its reservation (it may have been billed); an attempt the API refused gives it back', async () => {
    const config = claudeConfig();
    const scope = claudeBudgetScope(config);
    const finder = finderOf(config, 200);
    fake.enqueue(errorResponse(400, 'invalid_request_error', 'bad request'));
    expect(await finder.find(nvda, universe)).toMatchObject({ source: 'profile-industry', fallbackReason: expect.stringMatching(/^api-error/) });
    expect(await spent(scope)).toEqual({ tokens: 0, calls: 0 });

    fake.enqueue({ ...answer, delayMs: 1000 });
    expect(await finder.find(nvda, universe)).toMatchObject({ source: 'profile-industry', fallbackReason: 'api-error: request timed out' });
    const afterTimeout = await spent(scope);
    expect(afterTimeout.calls).toBe(1);
    expect(afterTimeout.tokens).toBeGreaterThan(1024); // the estimate: the prompt plus the most output tokens
  });
});
