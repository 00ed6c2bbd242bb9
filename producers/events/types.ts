// The contract every market-event source implements (yahoo news, file), plus what it may hand back besides events.
import type { MarketEvent } from '../../schemas/types.generated.ts';
import type { EventFeedName } from '../../topics/market-event.ts';
import type { RejectedInput } from '../sources/types.ts';

export type { RejectedInput };

/**
 * A market-event source: constructed from its parsed config without I/O, then polled by the events producer.
 * `fetch` returns the events it sees for `symbols` as of `now`, each with a stable id (see ids.ts); it may return
 * events it returned before (a news feed repeats its latest items): the producer drops ids it has already published
 * and events (and rejected inputs) it has already dead-lettered, so a refused item is dead-lettered once.
 */
export interface EventSource {
  readonly name: EventFeedName;
  fetch(symbols: readonly string[], now: number): Promise<MarketEvent[]>;
  /** Inputs rejected since the last call (the producer dead-letters them). */
  takeRejected?(): RejectedInput[];
  /** True once a finite source (a file) has nothing more to give. */
  exhausted?(): boolean;
  close?(): Promise<void>;
}
