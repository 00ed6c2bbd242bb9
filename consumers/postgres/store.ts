// What postgres-sink materializes, cleared and counted for `rebuild`: price_data, market_events and price_features, never
// what it does not derive from its topics (the enricher's event_classifications, schema_migrations). A scope limits
// them to symbols. Before clearing, rebuild asks what a replay would not bring back (replayLossPostgres): the rows made
// by records that retention has removed from the start of the log.
import type { Pool } from '../../lib/stores/postgres.ts';
import type { MarketEvent, PriceFeatures, PriceUpdate } from '../../schemas/types.generated.ts';
import type { TopicDef } from '../../topics/index.ts';
import type { ReplayLoss, ResetScope, RetainedLog, StoreCounts } from '../types.ts';

/** Tables the sink materializes; each only once its migration exists. */
export const MATERIALIZED = ['price_data', 'price_revisions', 'market_events', 'price_features'] as const;
/** The materialized tables of one row per bar, keyed by `symbol`: a scope deletes and counts their rows of its symbols. */
const PER_SYMBOL: readonly string[] = ['price_data', 'price_revisions', 'price_features'];

/** The materialized tables that exist, and whether each has the `symbols` array column a scope filters on. */
async function present(pool: Pool): Promise<{ name: string; bySymbols: boolean }[]> {
  const { rows } = await pool.query<{ name: string; symbols_type: string | null }>(
    `SELECT t.name, c.data_type AS symbols_type
     FROM unnest($1::text[]) AS t(name)
     LEFT JOIN information_schema.columns c ON c.table_schema = current_schema() AND c.table_name = t.name AND c.column_name = 'symbols'
     WHERE to_regclass(t.name) IS NOT NULL`, [[...MATERIALIZED]]);
  return rows.map((r) => ({ name: r.name, bySymbols: r.symbols_type === 'ARRAY' }));
}

/**
 * Empties the tables; with a scope, deletes the rows of those symbols only (price_data and price_features by symbol,
 * market_events by any mentioned symbol). Table names come from MATERIALIZED, never from input. No CASCADE: a table
 * referencing these must be listed here, not emptied silently.
 */
export async function resetPostgres(pool: Pool, scope: ResetScope = {}): Promise<void> {
  const tables = await present(pool);
  if (!scope.symbols) {
    // The tombstones' versions go too: a replay brings back every one still in the log (a topic recreated since starts
    // its offsets, and so the versions, again from 0).
    const tombstones = (await pool.query("SELECT to_regclass('market_event_tombstones') IS NOT NULL AS t")).rows[0]?.t ? ['market_event_tombstones'] : [];
    if (tables.length) await pool.query(`TRUNCATE ${[...tables.map((t) => t.name), ...tombstones].join(', ')}`);
    return;
  }
  const symbols = [...scope.symbols];
  for (const { name } of tables.filter((t) => PER_SYMBOL.includes(t.name))) await pool.query(`DELETE FROM ${name} WHERE symbol = ANY($1::text[])`, [symbols]);
  if (tables.some((t) => t.name === 'market_events' && t.bySymbols)) await pool.query('DELETE FROM market_events WHERE symbols && $1::text[]', [symbols]);
}

/**
 * Rows per table (`price_data rows`); a scoped count covers the per-symbol tables (price_data, price_features) only.
 * price_revisions is not counted: its rows are a history of price_data's, not one per record or bar.
 */
export async function countPostgres(pool: Pool, scope: ResetScope = {}): Promise<StoreCounts> {
  const out: StoreCounts = {};
  for (const { name } of await present(pool)) {
    if (name === 'price_revisions' || (scope.symbols && !PER_SYMBOL.includes(name))) continue;
    const sql = `SELECT count(*)::bigint AS n FROM ${name}${scope.symbols ? ' WHERE symbol = ANY($1::text[])' : ''}`;
    const { rows } = await pool.query<{ n: string }>(sql, scope.symbols ? [[...scope.symbols]] : []);
    out[`${name} rows`] = Number(rows[0]?.n ?? 0);
  }
  return out;
}

/**
 * Rows a replay of `log` would not bring back. price_data and price_features, per symbol: a symbol's records all sit in
 * one partition (key = symbol); if that partition lost its first records, the rows older than the symbol's oldest bar
 * still in the log (all of them when none is left) cannot come back. market_events, per event (key = id): a row on a
 * truncated partition whose event is no longer in the log. Partitions that lost nothing cost nothing: they are not read.
 */
export async function replayLossPostgres(pool: Pool, log: RetainedLog,
  topics: { prices: TopicDef<PriceUpdate>; events: TopicDef<MarketEvent>; features: TopicDef<PriceFeatures> },
  scope: ResetScope = {}): Promise<ReplayLoss[]> {
  const tables = await present(pool);
  const losses: ReplayLoss[] = [];
  const symbols = scope.symbols ? [...scope.symbols] : null;
  const onTruncated = (topic: string) => {
    const parts = new Set(log.truncated(topic).map((t) => t.partition));
    return (key: string) => parts.has(log.partitionOf(topic, key));
  };

  /** The rows of a per-symbol bar table older than its symbol's oldest record left in `topic`. */
  const lostBars = async <T extends { eventTime: number }>(table: string, topic: TopicDef<T>, what: string) => {
    if (!tables.some((t) => t.name === table) || !log.truncated(topic.name).length) return;
    const truncated = onTruncated(topic.name);
    const { rows } = await pool.query<{ symbol: string }>(
      `SELECT DISTINCT symbol FROM ${table}${symbols ? ' WHERE symbol = ANY($1::text[])' : ''}`, symbols ? [symbols] : []);
    const candidates = rows.map((r) => r.symbol).filter(truncated);
    if (!candidates.length) return;
    const oldest = await log.oldestByKey(topic, (v) => v.eventTime, candidates);
    // A symbol with nothing left in the log loses every row (cutoff +infinity).
    const { rows: [lost] } = await pool.query<{ n: string; symbols: number; first: number | null; last: number | null }>(
      `SELECT count(*)::bigint AS n, count(DISTINCT p.symbol)::int AS symbols,
              (extract(epoch FROM min(p.ts)) * 1000)::float8 AS first, (extract(epoch FROM max(p.ts)) * 1000)::float8 AS last
       FROM ${table} p JOIN unnest($1::text[], $2::float8[]) AS c(symbol, cutoff) ON p.symbol = c.symbol
       WHERE p.ts < to_timestamp(c.cutoff / 1000.0)`,
      [candidates, candidates.map((s) => oldest.get(s) ?? Number.POSITIVE_INFINITY)]);
    const n = Number(lost?.n ?? 0);
    if (n > 0) {
      losses.push({
        what: `${table} rows`, count: n, from: lost!.first ?? undefined, to: lost!.last ?? undefined, topic: topic.name,
        detail: `of ${lost!.symbols} symbol(s), older than the oldest ${what} the log still has for them`,
      });
    }
  };

  await lostBars('price_data', topics.prices, 'bar');

  if (tables.some((t) => t.name === 'market_events') && log.truncated(topics.events.name).length) {
    const truncated = onTruncated(topics.events.name);
    const bySymbols = symbols && tables.some((t) => t.name === 'market_events' && t.bySymbols);
    if (!symbols || bySymbols) {
      const { rows } = await pool.query<{ id: string; t: number }>(
        `SELECT id, (extract(epoch FROM published_at) * 1000)::float8 AS t FROM market_events${symbols ? ' WHERE symbols && $1::text[]' : ''}`,
        symbols ? [symbols] : []);
      const candidates = rows.filter((r) => truncated(r.id));
      if (candidates.length) {
        const kept = await log.oldestByKey(topics.events, (v) => v.publishedAt, candidates.map((r) => r.id));
        const lost = candidates.filter((r) => !kept.has(r.id));
        if (lost.length) {
          const times = lost.map((r) => r.t);
          losses.push({
            what: 'market_events rows', count: lost.length, from: Math.min(...times), to: Math.max(...times), topic: topics.events.name,
            detail: 'whose events are no longer in the log',
          });
        }
      }
    }
  }
  await lostBars('price_features', topics.features, 'bar\'s features');
  return losses;
}
