// schemas/evolution.ts: differences between contract versions in words, BACKWARD by avsc's resolver; and
// consumers/stored-fields.ts stays in step with the contracts (every field is kept by some sink, every field a sink
// names exists), so `schema check` says the truth about the sinks.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { storedFields } from '../../consumers/stored-fields.ts';
import { loadSchema, parseSchema, schemasDir } from '../../schemas/avro.ts';
import { backwardProblem, breaksBackward, describeChange, diffSchemas, recordFullName, typeLabel } from '../../schemas/evolution.ts';

const record = (fields: unknown[], extra: Record<string, unknown> = {}) => ({ type: 'record', name: 'Bar', namespace: 'm.t', fields, ...extra });
const base = [{ name: 'symbol', type: 'string' }, { name: 'close', type: 'double' }, { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }];

describe('schema evolution', () => {
  it('an optional field with a default is BACKWARD compatible, described with its default', () => {
    const after = record([...base, { name: 'vwap', type: ['null', 'double'], default: null }]);
    expect(backwardProblem(record(base), after)).toBeNull();
    const changes = diffSchemas(record(base), after);
    expect(changes.map(describeChange)).toEqual(['field Bar.vwap added (null | double, default null): old records read as null']);
    expect(changes.some(breaksBackward)).toBe(false);
  });

  it('a new field without a default, or a changed type, is not, and the change names the field', () => {
    const added = record([...base, { name: 'currency', type: 'string' }]);
    expect(backwardProblem(record(base), added)).toMatch(/currency/);
    expect(diffSchemas(record(base), added).filter(breaksBackward).map(describeChange)).toEqual([
      'field Bar.currency added (string) WITHOUT a default: records written before cannot be read with this schema; give it a default',
    ]);
    const retyped = record([base[0], { name: 'close', type: 'string' }, base[2]]);
    expect(backwardProblem(record(base), retyped)).not.toBeNull();
    expect(diffSchemas(record(base), retyped).map(describeChange)).toEqual(['field Bar.close type changed: double → string']);
  });

  it('removals, defaults, nested records and enum symbols', () => {
    const side = { name: 'side', type: { type: 'enum', name: 'Side', symbols: ['BUY', 'SELL'] } };
    const before = record([...base, side, { name: 'note', type: ['null', 'string'], default: null }]);
    const after = record([
      base[0], { name: 'close', type: 'double', default: 0 }, base[2],
      { name: 'side', type: { type: 'enum', name: 'Side', symbols: ['BUY', 'SELL', 'SHORT'] } },
      { name: 'venue', type: ['null', { type: 'record', name: 'Venue', fields: [{ name: 'mic', type: 'string' }] }], default: null },
    ]);
    expect(backwardProblem(before, after)).toBeNull(); // removing a field is BACKWARD: the reader skips it
    expect(diffSchemas(before, after).map(describeChange)).toEqual([
      'field Bar.close default added → 0',
      'field Bar.venue added (null | Venue, default null): old records read as null',
      'field Bar.note removed (was null | string, default null)',
      'enum Side: symbols added SHORT (code built on the previous version cannot read any record written with this one, its enum having no default: '
        + 'upgrade consumers before producers)',
      'type Venue added',
    ]);
    expect(typeLabel({ type: 'long', logicalType: 'timestamp-millis' })).toBe('long (timestamp-millis)');
    expect(typeLabel({ type: 'array', items: 'string' })).toBe('array<string>');
    expect(recordFullName(before)).toBe('m.t.Bar');
  });

  it('price-update version 2 reads version 1 (vwap and trades default to null)', () => {
    const v2 = loadSchema('price-update.avsc').json as { fields: { name: string }[] };
    const v1 = { ...v2, fields: v2.fields.filter((f) => f.name !== 'vwap' && f.name !== 'trades') };
    expect(backwardProblem(v1, v2)).toBeNull();
    expect(diffSchemas(v1, v2).map((c) => c.kind)).toEqual(['field-added', 'field-added']);
  });

  it('price-update version 3 reads version 2 (final and adjusted default to null)', () => {
    const v3 = loadSchema('price-update.avsc').json as { fields: { name: string }[] };
    const v2 = { ...v3, fields: v3.fields.filter((f) => f.name !== 'final' && f.name !== 'adjusted') };
    expect(backwardProblem(v2, v3)).toBeNull();
    expect(diffSchemas(v2, v3).map((c) => c.kind)).toEqual(['field-added', 'field-added']);
  });

  it('price-update version 3: PriceSource gains alphavantage, twelvedata and a default (unknown) that reads sources added later', () => {
    type Enum = { type: 'enum'; name: string; symbols: string[]; default?: string };
    type Schema = { fields: Array<{ name: string; type: unknown }> };
    const v3 = loadSchema('price-update.avsc').json as Schema;
    const withSource = (change: (e: Enum) => Enum): Schema => {
      const copy = structuredClone(v3);
      const field = copy.fields.find((f) => f.name === 'source')!;
      field.type = change(field.type as Enum);
      return copy;
    };
    const v2 = withSource(({ default: _, ...e }) => ({ ...e, symbols: ['yahoo', 'synthetic', 'file', 'backfill'] }));
    expect(backwardProblem(v2, v3)).toBeNull();
    expect(diffSchemas(v2, v3).map(describeChange)).toEqual([
      'enum PriceSource: symbols added alphavantage, twelvedata, unknown (code built on the previous version cannot read any record written with this '
        + 'one, its enum having no default: upgrade consumers before producers)',
      'enum PriceSource default added → unknown: a reader of it reads a symbol it does not know as unknown',
    ]);
    // A later version with a source this one does not know (polygon): version 3 reads its records as unknown.
    const later = withSource((e) => ({ ...e, symbols: [...e.symbols, 'polygon'] }));
    expect(diffSchemas(v3, later).map(describeChange)).toEqual(['enum PriceSource: symbols added polygon']); // version 3 has a default
    const bar = { symbol: 'AAPL', interval: '1m', eventTime: 1_767_625_200_000, open: 1, high: 1, low: 1, close: 1, volume: 0, source: 'polygon',
      ingestTime: 1_767_625_260_000, quality: 1, vwap: null, trades: null };
    const written = parseSchema(later).toBuffer(bar);
    const reader = parseSchema(v3);
    expect(reader.fromBuffer(written, reader.createResolver(parseSchema(later)))).toMatchObject({ source: 'unknown' });
    // Without the default, version 2 cannot: why the default came with the new symbols.
    expect(() => parseSchema(v2).createResolver(parseSchema(v3))).toThrow();
    // Removing a symbol is BACKWARD too once the enum has a default: old records holding it read as the default.
    const removed = withSource((e) => ({ ...e, symbols: e.symbols.filter((x) => x !== 'file') }));
    expect(backwardProblem(v3, removed)).toBeNull();
    expect(diffSchemas(v3, removed).filter(breaksBackward)).toEqual([]);
    expect(diffSchemas(v3, removed).map(describeChange)).toEqual(['enum PriceSource: symbols removed file (old records holding them read as unknown)']);
  });
});

describe('consumers/stored-fields.ts', () => {
  const files = readdirSync(schemasDir).filter((f) => f.endsWith('.avsc')).sort();
  it.each(files)('%s: every field is kept by some sink, and every field a sink names exists', (file) => {
    const fields = (loadSchema(file).json as { fields: { name: string }[] }).fields.map((f) => f.name);
    const sinks = storedFields[file] ?? [];
    expect(sinks.length).toBeGreaterThan(0);
    const named = new Set(sinks.flatMap((s) => Object.keys(s.fields)));
    expect(fields.filter((f) => !named.has(f))).toEqual([]);
    expect([...named].filter((f) => !fields.includes(f))).toEqual([]);
  });
});
