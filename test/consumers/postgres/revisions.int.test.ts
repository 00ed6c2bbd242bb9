// Bar revisions (issue #22): a bar published again with other values keeps its history in price_revisions, written by
// the postgres-sink in the transaction of its price_data merge; a replay adds nothing; two revisions of a bar in one
// batch are both kept; an unchanged republish is no revision. Against the real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSink } from '../../../consumers/postgres/sink.ts';
import type { Sink } from '../../../consumers/types.ts';
import { loadConfig } from '../../../lib/config.ts';
import { createPgPool, type Pool } from '../../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { barHistory, parseBarTime } from '../../../ops/explain/revisions.ts';
import { formatBarHistory } from '../../../cli/explain/format.ts';
import { bar, randomSymbol } from '../../helpers/index.ts';

const config = loadConfig();
let sink: Sink;
let pool: Pool;
beforeAll(async () => {
  sink = createPostgresSink(config);
  await sink.connect(); // applies the migrations
  pool = createPgPool(config, { max: 1 });
});
afterAll(async () => { await sink.close(); await pool.end(); });

const write = (records: Array<{ value: PriceUpdate; offset: number }>) => sink.handlers[0]!.writeBatch(records.map(({ value, offset }) =>
  ({ value, key: value.symbol, timestamp: Date.now(), partition: 3, offset: String(offset), version: offset })));
const revisions = async (symbol: string) => (await pool.query(
  `SELECT version::int AS version, partition, written_at IS NOT NULL AS written, close, volume, final, changed
   FROM price_revisions WHERE symbol = $1 ORDER BY ts, version`, [symbol])).rows;
const stored = async (symbol: string) => (await pool.query(
  'SELECT close, volume, final, adjusted, version::int AS version FROM price_data WHERE symbol = $1 ORDER BY ts', [symbol])).rows;

describe('price_revisions', () => {
  it('a corrected bar keeps both revisions (the stored one and the correction, with what changed); a replay adds nothing', async () => {
    const s = randomSymbol();
    await write([{ value: bar(s, 0, 100, { final: false, adjusted: false }), offset: 10 }, { value: bar(s, 1, 101, { final: true }), offset: 11 }]);
    expect(await revisions(s)).toEqual([]); // nothing revised yet: no history rows
    await write([{ value: bar(s, 0, 100.5, { volume: 1500, final: true, adjusted: false }), offset: 20 }]);
    expect(await stored(s)).toEqual([
      { close: 100.5, volume: 1500, final: true, adjusted: false, version: 20 },
      { close: 101, volume: 1001, final: true, adjusted: null, version: 11 },
    ]);
    expect(await revisions(s)).toEqual([
      { version: 10, partition: null, written: false, close: 100, volume: 1000, final: false, changed: [] },
      { version: 20, partition: 3, written: true, close: 100.5, volume: 1500, final: true, changed: ['open', 'high', 'low', 'close', 'volume', 'final'] },
    ]);
    // A replay of all three records (a rebuild's or a redelivery): nothing new, nothing changed.
    await write([
      { value: bar(s, 0, 100, { final: false, adjusted: false }), offset: 10 }, { value: bar(s, 1, 101, { final: true }), offset: 11 },
      { value: bar(s, 0, 100.5, { volume: 1500, final: true, adjusted: false }), offset: 20 },
    ]);
    expect((await revisions(s)).map((r) => r.version)).toEqual([10, 20]);
  });

  it('keeps two revisions of a bar that arrive in one batch, and records no revision for a republish with the same values', async () => {
    const s = randomSymbol();
    await write([{ value: bar(s, 0, 100, { final: false }), offset: 1 }, { value: bar(s, 0, 100, { final: true }), offset: 2 }]);
    expect(await revisions(s)).toEqual([
      { version: 1, partition: 3, written: true, close: 100, volume: 1000, final: false, changed: [] },
      { version: 2, partition: 3, written: true, close: 100, volume: 1000, final: true, changed: ['final'] },
    ]);
    expect(await stored(s)).toEqual([{ close: 100, volume: 1000, final: true, adjusted: null, version: 2 }]);
    // Same values again at a later offset (ingest time differs): the row takes the new version, but no revision.
    await write([{ value: bar(s, 0, 100, { final: true, ingestTime: Date.now() }), offset: 3 }]);
    expect((await revisions(s)).map((r) => r.version)).toEqual([1, 2]);
    expect((await stored(s))[0].version).toBe(3);
  });

  it('a stale record (older than the stored row) changes neither the row nor adds a revision after the fact twice', async () => {
    const s = randomSymbol();
    await write([{ value: bar(s, 0, 100), offset: 5 }]);
    await write([{ value: bar(s, 0, 99), offset: 4 }]); // a stale writer: refused
    expect(await stored(s)).toEqual([{ close: 100, volume: 1000, final: null, adjusted: null, version: 5 }]);
    // Its history is still true: 4 (99) came before 5 (100).
    expect((await revisions(s)).map((r) => [r.version, r.close, r.changed])).toEqual([[4, 99, []], [5, 100, ['open', 'high', 'low', 'close']]]);
  });

  it('a rebuild scoped to a symbol clears its revisions too', async () => {
    const s = randomSymbol();
    await write([{ value: bar(s, 0, 100), offset: 1 }, { value: bar(s, 0, 101), offset: 2 }]);
    expect(await revisions(s)).toHaveLength(2);
    await sink.reset!({ symbols: [s] });
    expect(await revisions(s)).toEqual([]);
  });

  it('explain SYMBOL INTERVAL TIME prints the bar and its revisions with their offsets and what changed', async () => {
    const s = randomSymbol();
    await write([{ value: bar(s, 0, 100, { final: false }), offset: 7 }]);
    await write([{ value: bar(s, 0, 100, { volume: 1200, final: true }), offset: 9 }]);
    const h = await barHistory(pool, s, '1h', parseBarTime(new Date(bar(s, 0, 100).eventTime).toISOString()));
    expect(h.revisions.map((r) => [r.version, r.changed])).toEqual([[7, []], [9, ['volume', 'final']]]);
    const text = formatBarHistory(h);
    expect(text).toContain('offset 7 (first known)');
    expect(text).toMatch(/offset 9 partition 3 written \S+Z: .*V 1200 .* final; changed volume, final/);
    expect(() => parseBarTime('2026-12-01T10:00:00')).toThrow(/zone/); // a zone-less time is refused
  });
});
