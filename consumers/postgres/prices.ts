// price-updates → price_data (with version 2's vwap and trades, null when absent), by the COPY-staging-merge write of
// ./copy-merge.ts over the columns of ./price-columns.ts. Newest wins (migration 007): each row keeps the version of the
// record that wrote it, and the merge updates a row only when the incoming version is greater (or the row has none),
// so a stale writer (a member that lost the partition while its write was in flight), a redrive or a replay never puts
// an older revision of a bar over a newer one; a replayed record (equal version) leaves the row untouched (no new row
// version). Bars without a version (built by hand) keep last-write-wins, skipping identical rows. A bar published again
// with other values keeps its revisions in price_revisions (migration 011), written in the same transaction.
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { stagedUpsert, type StagedUpsert } from './copy-merge.ts';
import { PRICE_COLUMNS, REVISED_COLUMNS } from './price-columns.ts';

/**
 * Upserts the bars (each bar at most once: ../versions.ts newestPerBar) in one transaction on one pooled connection;
 * `versions[i]` is the version of `rows[i]` (null or absent: unversioned, last write wins). Returns how many versioned
 * bars were refused as stale.
 */
export const upsertPrices: StagedUpsert<PriceUpdate> = stagedUpsert({
  table: 'price_data', stage: 'price_stage_r', columns: PRICE_COLUMNS, equalVersionWins: false,
  history: { table: 'price_revisions', compared: REVISED_COLUMNS },
});
