// The Claude hourly budget kept in PostgreSQL, shared by every process of a scope (claudeBudgetScope, one for all):
// `consume enricher --instances 4`, enrichers on other hosts, `enrich reclassify` and every graph producer's competitor
// finder all spend from ONE allowance.
//
// Why PostgreSQL and not Redis: the enricher already depends on PostgreSQL (classification cache, market_events) and
// pauses when it is down, so the budget adds no store and no new way to fail; Redis is only the price cache here and
// may run without persistence, and a budget forgotten on restart would let the group spend twice in the hour.
// A reservation is one round trip (lib/stores/migrations/004_claude_budget.sql, claude_budget_reserve): atomic across
// processes through a row lock per scope; spending is kept per minute, so the window rolls minute by minute.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { errorMessage } from '../errors.ts';
import { classifyPgError, migrate, type Pool } from '../stores/postgres.ts';
import type { Budget, BudgetLimits, BudgetReservation, BudgetUsage } from './budget.ts';

const HOUR_MS = 3_600_000;

/**
 * The one scope of every process that calls Claude: the enricher group's members, `enrich reclassify` and every graph
 * producer's competitor finder spend from one allowance of CLAUDE_HOURLY_TOKEN_BUDGET / CLAUDE_HOURLY_COST_BUDGET_USD.
 * It is `<KAFKA_GROUP_PREFIX>.enricher`, the enricher's consumer group id, because that was the scope before the
 * competitor finder joined it: renaming it would forget the hour's spending when a deployment upgrades.
 */
export function claudeBudgetScope(config: Pick<Config, 'KAFKA_GROUP_PREFIX'>): string {
  return `${config.KAFKA_GROUP_PREFIX}.enricher`;
}
const DAY_MS = 24 * HOUR_MS;
/** A minute row counts while any of its minute is inside the window. */
const MINUTE_MS = 60_000;

export interface SharedBudgetOptions {
  pool: Pool;
  /** Who shares the allowance: every process with the same scope spends from one budget. */
  scope: string;
  limits: BudgetLimits;
  logger: Logger;
  /** Clock (epoch ms); default: the database's clock, the same for every process. */
  now?: () => number;
  /** Window length; default one hour, at most a day. */
  windowMs?: number;
}

const RESERVE = 'SELECT * FROM claude_budget_reserve($1, $2, $3, $4, $5, $6, make_interval(secs => $7::float8 / 1000))';
const ADJUST = `UPDATE claude_budget_spend SET tokens = tokens + $3, cost_usd = cost_usd + $4, calls = calls + $5
WHERE scope = $1 AND minute = $2`;
const USAGE = `SELECT coalesce(sum(tokens), 0)::float8 AS tokens, coalesce(sum(cost_usd), 0) AS cost_usd, min(minute) AS oldest
FROM claude_budget_spend
WHERE scope = $1 AND minute > coalesce($2::timestamptz, clock_timestamp()) - make_interval(secs => $3::float8 / 1000) - interval '1 minute'`;

interface ReserveRow { granted: boolean; reserved_minute: Date; window_tokens: string; window_cost: number; oldest_minute: Date | null }

export function createSharedBudget(o: SharedBudgetOptions): Budget {
  const windowMs = o.windowMs ?? HOUR_MS;
  if (windowMs > DAY_MS) throw new RangeError('a shared Claude budget window is at most a day');
  const at = () => (o.now ? new Date(o.now()) : null);
  let migrated: Promise<unknown> | undefined;
  const ready = () => (migrated ??= migrate(o.pool).catch((err) => { migrated = undefined; throw err; }));
  const query = async <R extends object>(sql: string, params: unknown[]) => {
    try {
      await ready();
      return (await o.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw classifyPgError(err);
    }
  };

  /** Adds (tokens, cost, calls) to a minute row; a failure is logged, never thrown: the estimate then stays counted. */
  async function adjust(minute: Date, tokens: number, costUsd: number, calls: number, what: string): Promise<void> {
    try {
      await query(ADJUST, [o.scope, minute, Math.round(tokens), costUsd, calls]);
    } catch (err) {
      o.logger.warn({ scope: o.scope, err: errorMessage(err) },
        `could not ${what} in the shared Claude budget: the estimate stays counted until it leaves the hour`);
    }
  }

  return {
    limits: o.limits,
    where: `postgres:${o.scope}`,
    async tryReserve(tokens, costUsd) {
      const estimate = Math.max(0, Math.round(tokens));
      const [row] = await query<ReserveRow>(RESERVE, [o.scope, estimate, costUsd,
        Math.max(0, Math.round(o.limits.tokensPerHour)), Math.max(0, o.limits.costUsdPerHour), at(), windowMs]);
      if (!row?.granted) return null;
      const minute = row.reserved_minute;
      let open = true;
      const reservation: BudgetReservation = {
        async settle(t, c) {
          if (!open) return;
          open = false;
          await adjust(minute, Math.round(t) - estimate, c - costUsd, 1, 'record a call\'s usage');
        },
        async release() {
          if (!open) return;
          open = false;
          await adjust(minute, -estimate, -costUsd, 0, 'take back a reservation');
        },
      };
      return reservation;
    },
    async usage(): Promise<BudgetUsage> {
      const [row] = await query<{ tokens: number; cost_usd: number; oldest: Date | null }>(USAGE, [o.scope, at(), windowMs]);
      return {
        tokens: Number(row?.tokens ?? 0),
        costUsd: Number(row?.cost_usd ?? 0),
        oldestExpiresAt: row?.oldest ? row.oldest.getTime() + MINUTE_MS + windowMs : null,
      };
    },
  };
}
