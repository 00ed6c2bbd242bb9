// The features group's state store in PostgreSQL (migration 010_feature_state.sql): per (group, symbol, interval) the base
// state, the held bars and the newest version taken. A batch runs in one transaction: lock() the keys' rows, compute,
// publish, save(), commit. Statements take arrays (unnest), one per kind of change, whatever the number of keys.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { columnsOf, copyBinary, VERSION_COLUMN } from '../postgres/copy-merge.ts';
import type { IndicatorSnapshot } from './indicators.ts';
import type { SeriesChanges, SeriesSnapshot } from './series.ts';

export interface FeatureKey { symbol: string; interval: string }

interface BarRow {
  group_id: string; symbol: string; interval: string; ts: number; open: number; high: number; low: number; close: number; volume: number;
  vwap: number | null; version: number;
}
const column = columnsOf<BarRow>();
const BAR_COLUMNS = [
  column('group_id', 'text', 'group_id', true), column('symbol', 'text', 'symbol', true), column('interval', 'text', 'interval', true),
  column('ts', 'int8', 'ts', true), column('open', 'float8', 'open'), column('high', 'float8', 'high'), column('low', 'float8', 'low'),
  column('close', 'float8', 'close'), column('volume', 'float8', 'volume'), column('vwap', 'float8', 'vwap'),
];
const STAGE = 'feature_bars_stage';
const NAMES = BAR_COLUMNS.map((c) => c.name).join(', ');
const COPY_STAGE = `COPY ${STAGE} (${NAMES}, ${VERSION_COLUMN}) FROM STDIN (FORMAT binary)`;
const MERGE_STAGE = `INSERT INTO feature_bars (${NAMES}, ${VERSION_COLUMN}) SELECT ${NAMES}, ${VERSION_COLUMN} FROM ${STAGE}
  ON CONFLICT (group_id, symbol, interval, ts) DO UPDATE SET ${BAR_COLUMNS.filter((c) => !c.key).map((c) => `${c.name} = EXCLUDED.${c.name}`).join(', ')},
    ${VERSION_COLUMN} = EXCLUDED.${VERSION_COLUMN}`;

/** Connections whose session has the staging table (it lives as long as its connection; emptied at each commit). */
const staged = new WeakSet<pg.PoolClient>();
/** inTransaction's `prepare`: the staging table of save(), once per connection. */
export async function prepareStage(client: pg.PoolClient): Promise<void> {
  if (staged.has(client)) return;
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (${BAR_COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ')}, ${VERSION_COLUMN} int8)
    ON COMMIT DELETE ROWS`);
  staged.add(client);
}
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
  const bars = saves.flatMap((s) => [...s.changes.bars.values()].map((b) => ({
    group_id: group, symbol: s.key.symbol, interval: s.key.interval, ts: b.bar.time, open: b.bar.open, high: b.bar.high, low: b.bar.low,
    close: b.bar.close, volume: b.bar.volume, vwap: b.bar.vwap, version: b.version,
  })));
  if (bars.length > 0) {
    // Binary COPY into the session's staging table, then one merge: the held bars of a bulk batch are thousands of rows.
    await pipeline(Readable.from(copyBinary(BAR_COLUMNS, bars, bars.map((b) => b.version))), client.query(copyFrom(COPY_STAGE)));
    await client.query(MERGE_STAGE);
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
