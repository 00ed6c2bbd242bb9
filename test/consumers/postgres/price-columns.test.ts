// The column lists of the COPY-staging-merge tables (consumers/postgres/price-columns.ts for price_data,
// consumers/postgres/features.ts for price_features) against the migrations that create them: the same columns with the
// same types, so a field added to a list without its migration (or the reverse) fails here, with no server. The COPY
// encoding itself is exercised against PostgreSQL by sink.int.test.ts and features.int.test.ts.
import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FEATURE_COLUMNS } from '../../../consumers/postgres/features.ts';
import { PRICE_COLUMNS, VERSION_COLUMN } from '../../../consumers/postgres/price-columns.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { FEATURE_VALUES } from '../../../topics/price-features.ts';
import { bar, featureBar } from '../../helpers/index.ts';

const MIGRATIONS = new URL('../../../lib/stores/migrations/', import.meta.url);
const TYPES: Record<string, string> = { text: 'text', 'double precision': 'float8', bigint: 'int8', timestamptz: 'timestamptz', boolean: 'bool' };

/** A table's columns as the migrations leave them: name → type. */
async function migratedColumns(table: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort()) {
    const sql = (await readFile(new URL(file, MIGRATIONS), 'utf8')).replace(/--.*$/gm, '');
    const create = new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\(([\\s\\S]*?)\\n\\);`).exec(sql)?.[1];
    for (const line of create?.split('\n') ?? []) {
      const m = /^\s*(\w+)\s+(text|double precision|bigint|timestamptz)\b/.exec(line);
      if (m) out[m[1]!] = TYPES[m[2]!]!;
    }
    const added = sql.matchAll(new RegExp(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS (\\w+) (text|double precision|bigint|timestamptz|boolean)`, 'g'));
    for (const m of added) out[m[1]!] = TYPES[m[2]!]!;
  }
  return out;
}

describe('price_data columns', () => {
  it('are the columns the migrations create, with their types (and the record\'s version beside them)', async () => {
    expect({ ...Object.fromEntries(PRICE_COLUMNS.map((c) => [c.name, c.type])), [VERSION_COLUMN]: 'int8' }).toEqual(await migratedColumns('price_data'));
  });

  it('key on the primary key (symbol, interval, ts)', () => {
    expect(PRICE_COLUMNS.filter((c) => c.key).map((c) => c.name)).toEqual(['symbol', 'interval', 'ts']);
  });

  it('encode each value with its length first, a NULL as length -1 alone', () => {
    const r: PriceUpdate = bar('AAPL', 0, 100, { vwap: null, trades: 7 });
    const sizes = PRICE_COLUMNS.map((c) => c.size(r));
    const b = Buffer.alloc(sizes.reduce((a, n) => a + n, 0));
    let o = 0;
    for (const c of PRICE_COLUMNS) {
      const at = o;
      o = c.write(b, o, r);
      expect(o - at, c.name).toBe(c.size(r));
    }
    const at = (name: string) => PRICE_COLUMNS.slice(0, PRICE_COLUMNS.findIndex((c) => c.name === name)).reduce((a, c) => a + c.size(r), 0);
    expect(b.readInt32BE(at('symbol'))).toBe(4);
    expect(b.toString('latin1', at('symbol') + 4, at('symbol') + 8)).toBe('AAPL');
    expect(b.readInt32BE(at('vwap'))).toBe(-1);
    expect([b.readInt32BE(at('trades')), b.readBigInt64BE(at('trades') + 4)]).toEqual([8, 7n]);
    expect([b.readInt32BE(at('close')), b.readDoubleBE(at('close') + 4)]).toEqual([8, 100]);
    // timestamptz: microseconds since 2000-01-01 UTC.
    expect(b.readBigInt64BE(at('ts') + 4)).toBe(BigInt(r.eventTime - Date.UTC(2000, 0, 1)) * 1000n);
  });
});

describe('price_features columns', () => {
  it('are the columns the migrations create, with their types (and the record\'s version beside them)', async () => {
    const migrated = await migratedColumns('price_features');
    expect(Object.keys(migrated)).toContain('realized_volatility');
    expect({ ...Object.fromEntries(FEATURE_COLUMNS.map((c) => [c.name, c.type])), [VERSION_COLUMN]: 'int8' }).toEqual(migrated);
  });

  it('key on the primary key (symbol, interval, ts), and hold every indicator value as a nullable double', () => {
    expect(FEATURE_COLUMNS.filter((c) => c.key).map((c) => c.name)).toEqual(['symbol', 'interval', 'ts']);
    expect(FEATURE_COLUMNS.filter((c) => (FEATURE_VALUES as readonly string[]).includes(c.field)).map((c) => [c.name, c.type]).slice(0, 3))
      .toEqual([['sma', 'float8'], ['ema_fast', 'float8'], ['ema_slow', 'float8']]);
    expect(FEATURE_COLUMNS.filter((c) => c.type === 'float8').length).toBe(FEATURE_VALUES.length + 1); // and close
  });

  it('encode text as UTF-8, its length in bytes', () => {
    const definition = column('definition');
    const r = featureBar('AAPL', 0, 100, { definition: 'BBANDS(20,2σ)' });
    const b = Buffer.alloc(definition.size(r));
    expect(definition.write(b, 0, r)).toBe(b.length);
    expect(b.readInt32BE(0)).toBe(Buffer.byteLength('BBANDS(20,2σ)'));
    expect(b.toString('utf8', 4)).toBe('BBANDS(20,2σ)');
  });
});

function column(name: string) {
  return FEATURE_COLUMNS.find((c) => c.name === name)!;
}
