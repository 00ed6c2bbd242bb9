// The Claude hourly budget shared in the REAL PostgreSQL (lib/claude/shared-budget.ts): processes reserving at the same
// time never squeeze past the limit together, the real usage replaces the estimate, a refused call gives it back, and
// spending leaves the rolling hour minute by minute. Each "process" has its own pool and budget object.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSharedBudget } from '../../../lib/claude/index.ts';
import type { BudgetLimits } from '../../../lib/claude/index.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import { randomName, testConfig, testLogger } from '../../helpers/index.ts';

const config = testConfig();
const logger = testLogger('shared-budget');
const pools: Pool[] = [];
const scopes: string[] = [];
let pool: Pool;

function newScope(): string {
  const scope = randomName('test-budget');
  scopes.push(scope);
  return scope;
}

/** A budget of `scope` as one process sees it: its own pool. */
function processBudget(scope: string, limits: BudgetLimits, now?: () => number) {
  const p = createPgPool(config, { max: 2 });
  pools.push(p);
  return createSharedBudget({ pool: p, scope, limits, logger, ...(now ? { now } : {}) });
}

async function recorded(scope: string) {
  const { rows } =
    await pool.query('SELECT coalesce(sum(tokens), 0)::int AS tokens, coalesce(sum(cost_usd), 0) AS cost, coalesce(sum(calls), ' +
    '0)::int AS calls FROM claude_budget_spend WHERE scope = $1', [scope]);
  return rows[0] as { tokens: number; cost: number; calls: number };
}

beforeAll(async () => {
  pool = createPgPool(config, { max: 2 });
  await migrate(pool);
});
afterAll(async () => {
  await pool.query('DELETE FROM claude_budget_spend WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await pool.query('DELETE FROM claude_budget_scopes WHERE scope = ANY($1)', [scopes]).catch(() => {});
  await Promise.all(pools.map((p) => p.end()));
  await pool.end();
});

describe('Claude budget shared in PostgreSQL', () => {
  it('lets processes reserving at the same time take exactly what fits, never more', async () => {
    const scope = newScope();
    const limits = { tokensPerHour: 10_000, costUsdPerHour: 0 };
    const budgets = Array.from({ length: 4 }, () => processBudget(scope, limits));
    // 4 processes × 25 reservations of 1,000 tokens at once, against 10,000 tokens: 10 fit.
    const results = await Promise.all(budgets.flatMap((b) => Array.from({ length: 25 }, () => b.tryReserve(1000, 0))));
    expect(results.filter(Boolean)).toHaveLength(10);
    expect(await recorded(scope)).toMatchObject({ tokens: 10_000 });
    expect((await budgets[0]!.usage()).tokens).toBe(10_000);
  });

  it('replaces the estimate by the real usage, gives a refused call\'s estimate back, and limits the cost too', async () => {
    const scope = newScope();
    const [a, b] = [processBudget(scope, { tokensPerHour: 5000, costUsdPerHour: 0.01 }), processBudget(scope, { tokensPerHour: 5000, costUsdPerHour: 0.01 })];
    const first = await a.tryReserve(3000, 0.002);
    expect(first).not.toBeNull();
    expect(await b.tryReserve(3000, 0.002)).toBeNull(); // 6,000 > 5,000 while the first is in flight
    await first!.settle(300, 0.0004);
    expect(await recorded(scope)).toMatchObject({ tokens: 300, calls: 1 });
    expect((await b.usage()).costUsd).toBeCloseTo(0.0004, 10);

    const second = await b.tryReserve(3000, 0.002);
    expect(second).not.toBeNull();
    await second!.release(); // the API refused it: nothing was billed
    await second!.release(); // once only
    expect(await recorded(scope)).toMatchObject({ tokens: 300, calls: 1 });

    expect(await a.tryReserve(100, 0.0097)).toBeNull(); // the tokens fit, the cost does not
    expect(await a.tryReserve(100, 0.009)).not.toBeNull();
  });

  it('forgets spending once it has left the rolling hour', async () => {
    const scope = newScope();
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    let t = minute + 30_000;
    const b = processBudget(scope, { tokensPerHour: 1000, costUsdPerHour: 0 }, () => t);
    await (await b.tryReserve(900, 0))!.settle(800, 0);
    t += 30 * 60_000;
    expect(await b.tryReserve(300, 0)).toBeNull(); // 800 spent half an hour ago
    const u = await b.usage();
    expect(u.tokens).toBe(800);
    expect(u.oldestExpiresAt).toBe(minute + 61 * 60_000); // its minute + 1 min + 1 h
    t = minute + 61 * 60_000;
    expect((await b.usage()).tokens).toBe(0);
    expect(await b.tryReserve(1000, 0)).not.toBeNull();
  });

  it('has no limit when both limits are 0, and still records what was spent', async () => {
    const scope = newScope();
    const b = processBudget(scope, { tokensPerHour: 0, costUsdPerHour: 0 });
    const r = await b.tryReserve(1e9, 100);
    expect(r).not.toBeNull();
    await r!.settle(1234, 0.5);
    expect(await recorded(scope)).toMatchObject({ tokens: 1234, calls: 1 });
  });
});
