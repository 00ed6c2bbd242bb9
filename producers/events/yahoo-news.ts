// Yahoo Finance news source (yahoo-finance2 `search(symbol, { newsCount })`): the latest articles about each symbol,
// as market events with a stable id from Yahoo's article uuid. An article found under several symbols is one event.
// Every request goes through lib/resilience (rate limit, retry with backoff + jitter, circuit breaker), like the
// price source (client setup: ../yahoo-client.ts); `deps.fetch` replaces the HTTP client (tests feed recorded
// responses through it).
import { z } from 'zod';
import type { CircuitState } from '../../lib/resilience.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { createYahooClient, yahooClientFields, type YahooClientDeps } from '../yahoo-client.ts';
import { eventId } from './ids.ts';
import type { EventSource } from './types.ts';
import { MAX_HEADLINE, MAX_SUMMARY, MAX_SYMBOLS } from '../../topics/market-event.ts';

export const yahooNewsConfigSchema = z.object({
  newsPerSymbol: z.number().int().min(1).max(100).default(10).describe('Articles asked for per symbol and fetch (search newsCount)'),
  ...yahooClientFields,
});
export type YahooNewsConfig = z.output<typeof yahooNewsConfigSchema>;

export type YahooNewsDeps = YahooClientDeps;

export interface YahooNewsSource extends EventSource {
  readonly name: 'yahoo';
  circuitState(): CircuitState;
  close(): Promise<void>;
}

/** The fields of yahoo-finance2's SearchNews this source reads (validated and dated by the library). */
interface News { uuid: string; title: string; publisher: string; link: string; providerPublishTime: Date; type: string;
  relatedTickers?: string[]; [k: string]: unknown }

/** Feed name in the id hash: the article's uuid is Yahoo's, whoever published it. */
const FEED = 'yahoo';

export function newsToEvent(n: News, querySymbol: string, now: number): MarketEvent {
  const related = (n.relatedTickers ?? []).map((s) => s.trim().toUpperCase()).filter((s) => SYMBOL_PATTERN.test(s));
  const symbols = [...new Set(related.length ? related : [querySymbol])].slice(0, MAX_SYMBOLS);
  const summary = typeof n.summary === 'string' && n.summary.trim() ? n.summary.trim().slice(0, MAX_SUMMARY) : null;
  return {
    id: eventId(FEED, { sourceId: n.uuid }),
    symbols,
    headline: n.title.trim().slice(0, MAX_HEADLINE),
    summary,
    source: n.publisher.trim() || 'Yahoo Finance',
    url: /^https?:\/\/\S+$/i.test(n.link) ? n.link : null,
    publishedAt: n.providerPublishTime.getTime(),
    category: n.type || null,
    ingestTime: now,
  };
}

export function createYahooNewsSource(input: z.input<typeof yahooNewsConfigSchema>, deps: YahooNewsDeps): YahooNewsSource {
  const config = yahooNewsConfigSchema.parse(input);
  const { yf, resilient, run, logger } = createYahooClient('yahoo-news', config, deps);

  async function newsOf(symbol: string): Promise<News[]> {
    const result = await run(() => yf.search(symbol, { newsCount: config.newsPerSymbol, quotesCount: 0, enableFuzzyQuery: false }), `news ${symbol}`);
    return result.news as News[];
  }

  return {
    name: 'yahoo',

    async fetch(symbols, now) {
      if (symbols.length === 0) return [];
      const settled = await Promise.allSettled(symbols.map((s) => newsOf(s)));
      const failures = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ symbol: symbols[i], err: r.reason as unknown }] : []));
      if (failures.length === symbols.length) throw failures[0]?.err;
      for (const f of failures) logger.warn({ symbol: f.symbol, err: (f.err as Error)?.message }, 'Yahoo news request failed; symbol skipped this fetch');
      // One event per article: found under several symbols, it keeps the first one's fields and the union of symbols.
      const byId = new Map<string, MarketEvent>();
      settled.forEach((r, i) => {
        if (r.status !== 'fulfilled') return;
        for (const n of r.value) {
          const e = newsToEvent(n, symbols[i]!, now);
          const seen = byId.get(e.id);
          if (!seen) byId.set(e.id, e);
          else seen.symbols = [...new Set([...seen.symbols, ...e.symbols])].slice(0, MAX_SYMBOLS);
        }
      });
      return [...byId.values()].sort((a, b) => a.publishedAt - b.publishedAt || a.id.localeCompare(b.id));
    },

    circuitState: () => resilient.state(),

    async close() {
      await resilient.shutdown();
    },
  };
}
