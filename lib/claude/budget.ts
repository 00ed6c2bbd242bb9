// Rolling one-hour token and cost budget for Claude calls, per process. A call reserves its estimated
// tokens and cost before it starts (so concurrent calls cannot all squeeze past the limit) and settles the real
// usage when it ends. A limit of 0 means no limit. With N enricher processes the total is N × the budget.

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
