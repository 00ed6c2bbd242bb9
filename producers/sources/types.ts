// The contract every price source implements (synthetic, yahoo, alphavantage, twelvedata, file, and the chain of
// several: ./chain.ts), plus what it may hand back besides bars.
import type { RateBudgetStatus } from '../../lib/rate-budget.ts';
import type { CircuitState } from '../../lib/resilience.ts';
import type { PriceSource, PriceUpdate } from '../../schemas/types.generated.ts';
import type { PriceFeedName, PriceInterval } from '../../topics/price-update.ts';

/** Input a source read but could not turn into a PriceUpdate (e.g. a malformed CSV line). */
export interface RejectedInput {
  /** Why it was rejected, e.g. `line 12: high is not a number`. */
  reason: string;
  /** Symbol if known; becomes the DLQ record key. */
  symbol: string | null;
  /** What was read, kept as JSON in the DLQ value. */
  raw: unknown;
}

export interface HistoryRange {
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms. */
  to: number;
  interval: Extract<PriceInterval, '1d' | '1h' | '1m'>;
}

/** Whether a source can be asked now, for the source chain, /health and doctor. */
export interface SourceHealth {
  /** Its circuit breaker's state (closed for a source without one). */
  circuit: CircuitState;
  /** False while its circuit is open, its rate limit has no call left, or it cannot work at all (no API key). */
  available: boolean;
  /** Why it is not available, e.g. `circuit open`, `alphavantage rate limit: 5 calls per minute used; next call at …`. */
  reason?: string;
  /** Its rate limit's count (the HTTP providers). */
  rateLimit?: RateBudgetStatus;
}

/**
 * A price source: constructed from its parsed config without I/O, then polled by the price producer.
 * `fetch` returns the bars that became available for `symbols` as of `now`; it should not repeat bars whose
 * publication was acknowledged (see `acknowledge`), and must repeat those that were not.
 */
export interface PriceFeed {
  /** The source's name; `chain` for a chain of several (./chain.ts), whose records each name the provider that produced them. */
  readonly name: PriceFeedName | 'chain';
  /** The `source` values its records carry when not just its name (a chain: its members'), e.g. for finding what it published. */
  readonly recordSources?: readonly PriceSource[];
  fetch(symbols: readonly string[], now: number): Promise<PriceUpdate[]>;
  /** Historical bars with source `backfill`, for the backfill command; same bar for the same symbol+time each call. */
  history?(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  /**
   * The producer calls this once Kafka acknowledged the records of a fetch (published, or dead-lettered): a source that
   * keeps a cursor ("last bar seen") moves it here, never in `fetch`, so a failed send is fetched again next tick.
   */
  acknowledge?(records: readonly PriceUpdate[]): void;
  /**
   * Inputs the last fetch rejected, handed over once (the producer dead-letters them); like records, a fetch after a
   * failed send offers them again. An input handed over again after it was dead-lettered is dropped by the producer
   * (it remembers what it refused, bounded), but a source with a cursor should still move past it in `acknowledge`.
   */
  takeRejected?(): RejectedInput[];
  /**
   * Symbols the last fetch could not fetch (the provider failed for them: an error, not "no new bar"), handed over once:
   * a chain asks the next source for them. A fetch that fails for every symbol throws instead.
   */
  takeFailedSymbols?(): string[];
  /** Whether it can be asked now (circuit, rate limit); a source without it always can. */
  health?(): SourceHealth;
  /**
   * A source that can regenerate the bars it missed (synthetic): where the producer looks in the topic, at a restart,
   * for the last bar it published per symbol (records of this interval stamped since `since`), before the first fetch.
   */
  resumeQuery?(now: number): { interval: PriceInterval; since: number; values?: boolean };
  /**
   * What that look found: the last bar start published per symbol; fetch() then offers the bars after it. With
   * `values` asked, also the bars found (the last record of each), so a source that republishes revised bars (Yahoo)
   * does not republish unchanged ones.
   */
  resume?(lastPublished: ReadonlyMap<string, number>, bars?: ReadonlyMap<string, readonly PriceUpdate[]>): void;
  /** True once a finite source (a file) has nothing more to give. */
  exhausted?(): boolean;
  close?(): Promise<void>;
}
