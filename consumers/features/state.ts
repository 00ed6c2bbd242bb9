// The features group's state store in PostgreSQL (migration 010_feature_state.sql): per (group, symbol, interval) the base
// state, the held bars and the newest version taken. A batch runs in one transaction: lock() the keys' rows, compute,
// publish, save(), commit. Statements take arrays (unnest), one per kind of change, whatever the number of keys.
import type pg from 'pg';
import type { IndicatorSnapshot } from './indicators.ts';
import type { SeriesChanges, SeriesSnapshot } from './series.ts';

export interface FeatureKey { symbol: string; interval: string }
export const keyOf = (k: FeatureKey) => `${k.symbol}\u0000${k.interval}`;

/** A key's row as lock() finds it: the version taken (-1: nothing yet) and the definition it was computed with. */
export interface LockedKey { version: number; definition: string | null }

/**
 * Creates the keys' rows that do not exist yet, then locks them all, in key order (so two members' batches cannot
 * deadlock), until the transaction ends. A member that lost the partition and still writes waits here for the new
 * owner's transaction, and then sees the version it moved to.
 */
export async function lock(client: pg.PoolClient, group: string, keys: readonly FeatureKey[]): Promise<Map<string, LockedKey>> {
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...keys].sort((a, b) => order(a.symbol, b.symbol) || order(a.interval, b.interval));
  const symbols = sorted.map((k) => k.symbol);
  const intervals = sorted.map((k) => k.interval);
  await client.query(`INSERT INTO feature_state (group_id, symbol, interval)
    SELECT $3, s, i FROM unnest($1::text[], $2::text[]) AS k(s, i) ORDER BY s, i ON CONFLICT DO NOTHING`, [symbols, intervals, group]);
  const { rows } = await client.query<{ symbol: string; interval: string; version: string; definition: string | null }>(
    `SELECT f.symbol, f.interval, f.version, f.definition FROM feature_state f
     JOIN unnest($1::text[], $2::text[]) AS k(s, i) ON f.group_id = $3 AND f.symbol = k.s AND f.interval = k.i
     ORDER BY f.symbol, f.interval FOR UPDATE OF f`, [symbols, intervals, group]);
  return new Map(rows.map((r) => [keyOf(r), { version: Number(r.version), definition: r.definition }]));
}

/** A key's state as the store holds it (after lock()), or null when it has taken nothing yet. */
export async function load(client: Pick<pg.PoolClient, 'query'>, group: string, key: FeatureKey): Promise<SeriesSnapshot | null> {
  const state = await client.query<{ version: string; base: IndicatorSnapshot | null }>(
    'SELECT version, base FROM feature_state WHERE group_id = $3 AND symbol = $1 AND interval = $2', [key.symbol, key.interval, group]);
  const row = state.rows[0];
  if (!row || Number(row.version) < 0 || !row.base) return null;
  const bars = await client.query<{ ts: string; open: number; high: number; low: number; close: number; volume: number; vwap: number | null;
    version: string; }>(
    'SELECT ts, open, high, low, close, volume, vwap, version FROM feature_bars WHERE group_id = $3 AND symbol = $1 AND interval = $2 ORDER BY ts',
    [key.symbol, key.interval, group]);
  return {
    base: row.base,
    version: Number(row.version),
    bars: bars.rows.map((b) => ({
      bar: { time: Number(b.ts), open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, vwap: b.vwap }, version: Number(b.version),
    })),
  };
}

/** `base`: the base state to store (after a fold, or for a key new to the store); null keeps the stored one. */
export interface KeySave { key: FeatureKey; version: number; partition: number; definition: string; changes: SeriesChanges; base: IndicatorSnapshot | null }

/** Writes what a batch changed: the held bars written, the bars folded into the base dropped, each key's row. */
export async function save(client: pg.PoolClient, group: string, saves: readonly KeySave[]): Promise<void> {
  const bars = saves.flatMap((s) => [...s.changes.bars.values()].map((b) => ({ key: s.key, ...b })));
  if (bars.length > 0) {
    const col = <T>(f: (b: (typeof bars)[number]) => T) => bars.map(f);
    await client.query(`INSERT INTO feature_bars (group_id, symbol, interval, ts, open, high, low, close, volume, vwap, version)
      SELECT $11, * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
        $9::float8[], $10::bigint[])
      ON CONFLICT (group_id, symbol, interval, ts) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, vwap = EXCLUDED.vwap, version = EXCLUDED.version`,
    [col((b) => b.key.symbol), col((b) => b.key.interval), col((b) => b.bar.time), col((b) => b.bar.open), col((b) => b.bar.high), col((b) => b.bar.low),
      col((b) => b.bar.close), col((b) => b.bar.volume), col((b) => b.bar.vwap), col((b) => b.version), group]);
  }
  const folded = saves.filter((s) => s.changes.foldedThrough !== null);
  if (folded.length > 0) {
    await client.query(`DELETE FROM feature_bars f USING unnest($1::text[], $2::text[], $3::bigint[]) AS k(s, i, through)
      WHERE f.group_id = $4 AND f.symbol = k.s AND f.interval = k.i AND f.ts <= k.through`,
    [folded.map((s) => s.key.symbol), folded.map((s) => s.key.interval), folded.map((s) => s.changes.foldedThrough), group]);
  }
  await client.query(`UPDATE feature_state f SET version = k.v, partition = k.p, definition = k.d, base = COALESCE(k.b, f.base), updated_at = now()
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $7::int[]) AS k(s, i, v, d, b, p)
    WHERE f.group_id = $6 AND f.symbol = k.s AND f.interval = k.i`,
  [saves.map((s) => s.key.symbol), saves.map((s) => s.key.interval), saves.map((s) => s.version), saves.map((s) => s.definition),
    saves.map((s) => (s.base === null ? null : JSON.stringify(s.base))), group, saves.map((s) => s.partition)]);
}
