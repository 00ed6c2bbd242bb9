// Rolling one-hour token and cost budget for Claude calls. A call reserves its estimated tokens and cost when its
// request is sent (so concurrent calls cannot all squeeze past the limit) and settles the real usage when it ends; a
// limit of 0 means no limit.
// - createHourlyBudget: kept in this process's memory (unit tests without PostgreSQL).
// - Budget: the same, asynchronous, so it can be kept in a store shared by several processes: ./shared-budget.ts keeps
//   it in PostgreSQL for every process that calls Claude (enricher members, `enrich reclassify`, the graph producers'
//   competitor finders spend from one allowance); processBudget() adapts a process budget to it.

export interface BudgetLimits {
  /** Most tokens (input + output) per rolling hour; 0 = no limit. */
  tokensPerHour: number;
  /** Most USD per rolling hour; 0 = no limit. */
  costUsdPerHour: number;
}

export interface BudgetUsage {
  tokens: number;
  costUsd: number;
  /** When the oldest spending in the window leaves it (epoch ms), or null when nothing was spent. */
  oldestExpiresAt: number | null;
}

export interface Reservation {
  /** Records what the call really used, replacing the estimate. */
  settle(tokens: number, costUsd: number): void;
  /** The call used nothing (it failed before the API billed it). */
  release(): void;
}

export interface HourlyBudget {
  /** A reservation, or null when the estimate does not fit in what is left of this hour's budget. */
  tryReserve(tokens: number, costUsd: number): Reservation | null;
  /** Spending in the window, reservations included. */
  usage(): BudgetUsage;
  readonly limits: BudgetLimits;
}

const HOUR_MS = 3_600_000;

export function createHourlyBudget(limits: BudgetLimits, now: () => number = Date.now, windowMs = HOUR_MS): HourlyBudget {
  interface Entry { at: number; tokens: number; costUsd: number }
  const spent: Entry[] = [];
  const reserved = new Set<Entry>();

  function prune(): void {
    const from = now() - windowMs;
    while (spent.length && spent[0]!.at <= from) spent.shift();
  }

  function usage(): BudgetUsage {
    prune();
    let tokens = 0, costUsd = 0;
    for (const e of [...spent, ...reserved]) { tokens += e.tokens; costUsd += e.costUsd; }
    return { tokens, costUsd, oldestExpiresAt: spent.length ? spent[0]!.at + windowMs : null };
  }

  return {
    limits,
    usage,
    tryReserve(tokens, costUsd) {
      const u = usage();
      if (limits.tokensPerHour > 0 && u.tokens + tokens > limits.tokensPerHour) return null;
      if (limits.costUsdPerHour > 0 && u.costUsd + costUsd > limits.costUsdPerHour) return null;
      const entry: Entry = { at: now(), tokens, costUsd };
      reserved.add(entry);
      let open = true;
      return {
        settle(t, c) {
          if (!open) return;
          open = false;
          reserved.delete(entry);
          spent.push({ at: now(), tokens: t, costUsd: c });
        },
        release() {
          open = false;
          reserved.delete(entry);
        },
      };
    },
  };
}

/** A reservation in a budget that may live in a shared store. settle/release never throw (a failure is logged by the store). */
export interface BudgetReservation {
  /** Records what the call really used, replacing the estimate. */
  settle(tokens: number, costUsd: number): Promise<void>;
  /** The call used nothing (the API refused it or it was never sent): the estimate is taken back. */
  release(): Promise<void>;
}

/** An hourly budget, possibly shared by several processes (see ./shared-budget.ts). */
export interface Budget {
  readonly limits: BudgetLimits;
  /** Where spending is kept, for logs: `process` or `postgres:<scope>`. */
  readonly where: string;
  /** A reservation, or null when the estimate does not fit. Throws (retriable) when the store cannot be reached. */
  tryReserve(tokens: number, costUsd: number): Promise<BudgetReservation | null>;
  /** Spending in the window, reservations in flight included. */
  usage(): Promise<BudgetUsage>;
}

/**
 * Closes the reservation of one request that failed: a timeout without an HTTP status may have been processed (and
 * billed), so its estimate stays counted; any other failure (the API answered with an error, or nothing was sent)
 * gives the estimate back.
 */
export async function closeFailedReservation(r: BudgetReservation, failure: { outcome: string; status: number | null },
  estimate: { tokens: number; costUsd: number }): Promise<void> {
  if (failure.outcome === 'timeout' && failure.status === null) await r.settle(estimate.tokens, estimate.costUsd);
  else await r.release();
}

/** A process budget as a Budget (spending counted in this process only). */
export function processBudget(b: HourlyBudget): Budget {
  return {
    limits: b.limits,
    where: 'process',
    async tryReserve(tokens, costUsd) {
      const r = b.tryReserve(tokens, costUsd);
      return r && { settle: async (t, c) => r.settle(t, c), release: async () => r.release() };
    },
    usage: async () => b.usage(),
  };
}
