// The contract every price source implements (synthetic, yahoo, file), plus what it may hand back besides bars.
import type { PriceUpdate } from '../../schemas/types.generated.ts';
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

/**
 * A price source: constructed from its parsed config without I/O, then polled by the price producer.
 * `fetch` returns the bars that became available for `symbols` as of `now`; it should not repeat bars whose
 * publication was acknowledged (see `acknowledge`), and must repeat those that were not.
 */
export interface PriceFeed {
  readonly name: PriceFeedName;
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
