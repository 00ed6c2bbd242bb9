// The values the generated types describe are exactly what avsc encodes and decodes with the project's parse options.
import { describe, expect, it } from 'vitest';
import { loadSchema, parseSchema } from '../../schemas/avro.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';

const roundTrip = <T>(file: string, value: T): T => {
  const { type } = loadSchema(file);
  return type.fromBuffer(type.toBuffer(value)) as T;
};

describe('Avro parsing (schemas/avro.ts)', () => {
  it('price updates round-trip with timestamps as epoch-ms numbers', () => {
    const v: PriceUpdate = { symbol: 'AAPL', interval: '1m', eventTime: 1_767_225_600_000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10,
      source: 'synthetic', ingestTime: 1_767_225_601_000, quality: 0.5 };
    const back = roundTrip('price-update.avsc', v);
    // the optional fields of versions 2 and 3 may be left out: they are written as their default, null
    expect(back).toEqual({ ...v, vwap: null, trades: null, final: null, adjusted: null });
    expect(roundTrip('price-update.avsc', { ...v, vwap: 1.2, trades: 7 })).toEqual({ ...v, vwap: 1.2, trades: 7, final: null, adjusted: null });
    expect(roundTrip('price-update.avsc', { ...v, final: false, adjusted: false })).toMatchObject({ final: false, adjusted: false });
    expect(typeof back.eventTime).toBe('number');
  });

  it('market events round-trip with nullable fields as null or string', () => {
    const v: MarketEvent = { id: 'e1', symbols: ['AAPL', 'MSFT'], headline: 'h', summary: null, source: 'Reuters', url: 'https://x/1',
      publishedAt: 1_767_225_600_000, category: null, ingestTime: 1_767_225_700_000 };
    expect(roundTrip('market-event.avsc', v)).toEqual(v);
  });

  it('graph mutations: wrapped op union, property values keep long (bigint) apart from double (number)', () => {
    const v: GraphMutation = {
      mutationTime: 1_767_225_600_000,
      origin: 'correlation',
      op: { UpsertRelationship: {
        type: 'CORRELATED_WITH', from: { label: 'Company', key: 'AAPL' }, to: { label: 'Company', key: 'MSFT' },
        properties: { coefficient: 0.87, window_days: 30n, whole: 2, source: 'pearson', tags: ['a', 'b'], stale: null, strong: true },
      } },
    };
    const back = roundTrip('graph-mutation.avsc', v);
    expect(back).toEqual({ ...v, enrichment: null }); // an optional field left out is written as its default
    if (!('UpsertRelationship' in back.op)) throw new Error('wrong branch');
    expect(back.op.UpsertRelationship.properties.window_days).toBe(30n);
    expect(back.op.UpsertRelationship.properties.whole).toBe(2);
    for (const op of [{ UpsertNode: { label: 'Company', key: 'AAPL', properties: { name: 'Apple' } } },
      { DeleteRelationship: { type: 'COMPETES_WITH', from: { label: 'Company', key: 'A' }, to: { label: 'Company', key: 'B' } } }] as const) {
      const m: GraphMutation = { mutationTime: 1, origin: 'profile', op };
      expect(roundTrip('graph-mutation.avsc', m)).toEqual({ ...m, enrichment: null });
    }
  });

  it('rejects values outside the whitelists', () => {
    const { type } = loadSchema('graph-mutation.avsc');
    expect(type.isValid({ mutationTime: 1, origin: 'profile', op: { UpsertNode: { label: 'Person', key: 'x', properties: {} } } })).toBe(false);
    expect(type.isValid({ mutationTime: 1, origin: 'hacker', op: { UpsertNode: { label: 'Company', key: 'x', properties: {} } } })).toBe(false);
  });

  it('a union of only long (no double) keeps longs as numbers', () => {
    const t = parseSchema({ type: 'record', name: 'R', fields: [{ name: 'n', type: ['null', 'long'] }] });
    expect(t.fromBuffer(t.toBuffer({ n: 5 }))).toEqual({ n: 5 });
  });
});
