// Company profiles from Yahoo Finance: yahoo-finance2 `quoteSummary(symbol, { modules: ['assetProfile', 'price'] })`,
// one request per symbol, through lib/resilience (rate limit, retry with backoff + jitter, circuit breaker) like the
// price source (client setup: ../yahoo-client.ts). `deps.fetch` replaces the HTTP client (tests feed recorded
// responses through it).
import { z } from 'zod';
import type { CircuitState } from '../../lib/resilience.ts';
import { NAME_PATTERN } from '../../topics/graph-model.ts';
import { createYahooClient, yahooClientFields, type YahooClientDeps } from '../yahoo-client.ts';
import type { CompanyProfile, ProfileSource } from './profiles.ts';
import { YahooRequestError } from '../../lib/errors.ts';

export const yahooProfilesConfigSchema = z.object({
  ...yahooClientFields,
});

export type YahooProfilesDeps = YahooClientDeps;

export interface YahooProfileSource extends ProfileSource {
  readonly origin: 'yahoo';
  circuitState(): CircuitState;
}

/** The parts of quoteSummary's assetProfile and price modules used here. */
interface Summary {
  assetProfile?: { sector?: string; industry?: string; sectorDisp?: string; industryDisp?: string; longBusinessSummary?: string };
  price?: { longName?: string | null; shortName?: string | null; exchangeName?: string; exchange?: string };
}

/** A sector or industry name usable as a node key (no colon, trimmed), or null. */
function graphName(s: string | undefined): string | null {
  const v = s?.trim().replace(/:/g, ' -');
  return v && NAME_PATTERN.test(v) ? v : null;
}

export function profileFromSummary(symbol: string, s: Summary): CompanyProfile {
  const a = s.assetProfile ?? {};
  const p = s.price ?? {};
  return {
    symbol,
    name: p.longName?.trim() || p.shortName?.trim() || null,
    sector: graphName(a.sectorDisp ?? a.sector),
    industry: graphName(a.industryDisp ?? a.industry),
    exchange: p.exchangeName?.trim() || p.exchange?.trim() || null,
    summary: a.longBusinessSummary?.trim().slice(0, 2000) || null,
  };
}

export function createYahooProfileSource(input: z.input<typeof yahooProfilesConfigSchema>, deps: YahooProfilesDeps): YahooProfileSource {
  const config = yahooProfilesConfigSchema.parse(input);
  const { yf, resilient, run, logger } = createYahooClient('yahoo-profiles', config, deps);
  const fetched = new Map<string, CompanyProfile>();

  return {
    origin: 'yahoo',
    async profiles(symbols) {
      const settled = await Promise.allSettled(symbols.map((symbol) =>
        run(() => yf.quoteSummary(symbol, { modules: ['assetProfile', 'price'] }), `quoteSummary ${symbol}`)));
      const profiles: CompanyProfile[] = [];
      const missing: string[] = [];
      let failures = 0;
      let lastError: unknown;
      settled.forEach((r, i) => {
        const symbol = symbols[i]!;
        if (r.status === 'fulfilled') {
          const p = profileFromSummary(symbol, r.value as Summary);
          fetched.set(symbol, p);
          profiles.push(p);
        } else if (r.reason instanceof YahooRequestError) {
          logger.warn({ symbol, err: r.reason.message }, 'Yahoo has no profile for this symbol');
          missing.push(symbol);
        } else {
          failures++;
          lastError = r.reason;
          logger.warn({ symbol, err: (r.reason as Error)?.message }, 'Yahoo profile request failed; symbol skipped this run');
          missing.push(symbol);
        }
      });
      // Every request failed for a reason other than "no such symbol": Yahoo is down, the run fails (and is retried next time).
      if (symbols.length > 0 && failures === symbols.length) throw lastError;
      return { profiles, missing };
    },
    async known() {
      return [...fetched.values()];
    },
    circuitState: () => resilient.state(),
    async close() {
      await resilient.shutdown();
    },
  };
}
