// What postgres-sink materializes, cleared and counted for `rebuild`: price_data and market_events, never what it does
// not derive from its topics (the enricher's event_classifications, schema_migrations). A scope limits both to symbols.
import type { Pool } from '../../lib/stores/postgres.ts';
import type { ResetScope, StoreCounts } from '../types.ts';

/** Tables the sink materializes; market_events only once its migration exists. */
export const MATERIALIZED = ['price_data', 'market_events'] as const;

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
 * Empties the tables; with a scope, deletes the rows of those symbols only (price_data by symbol, market_events by any
 * mentioned symbol). Table names come from MATERIALIZED, never from input. No CASCADE: a table referencing these must
 * be listed here, not emptied silently.
 */
export async function resetPostgres(pool: Pool, scope: ResetScope = {}): Promise<void> {
  const tables = await present(pool);
  if (!scope.symbols) {
    if (tables.length) await pool.query(`TRUNCATE ${tables.map((t) => t.name).join(', ')}`);
    return;
  }
  const symbols = [...scope.symbols];
  if (tables.some((t) => t.name === 'price_data')) await pool.query('DELETE FROM price_data WHERE symbol = ANY($1::text[])', [symbols]);
  if (tables.some((t) => t.name === 'market_events' && t.bySymbols)) await pool.query('DELETE FROM market_events WHERE symbols && $1::text[]', [symbols]);
}

/** Rows per table (`price_data rows`); a scoped count covers price_data, the per-symbol table, only. */
export async function countPostgres(pool: Pool, scope: ResetScope = {}): Promise<StoreCounts> {
  const out: StoreCounts = {};
  for (const { name } of await present(pool)) {
    if (scope.symbols && name !== 'price_data') continue;
    const sql = scope.symbols ? 'SELECT count(*)::bigint AS n FROM price_data WHERE symbol = ANY($1::text[])' : `SELECT count(*)::bigint AS n FROM ${name}`;
    const { rows } = await pool.query<{ n: string }>(sql, scope.symbols ? [[...scope.symbols]] : []);
    out[`${name} rows`] = Number(rows[0]?.n ?? 0);
  }
  return out;
}
