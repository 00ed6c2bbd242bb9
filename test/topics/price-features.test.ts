// validatePriceFeatures: each rule rejects with a reason naming the problem; a record with every value, and a warm-up
// record with none, pass; no staleness rule (a replay of old records is valid).
import { describe, expect, it } from 'vitest';
import { loadSchema } from '../../schemas/avro.ts';
import type { PriceFeatures } from '../../schemas/types.generated.ts';
import { FEATURE_VALUES, validatePriceFeatures } from '../../topics/price-features.ts';
import { featureBar, warmUpBar } from '../helpers/index.ts';

const v = (over: Partial<PriceFeatures>) => validatePriceFeatures(featureBar('AAPL', 0, 100, over));

describe('validatePriceFeatures', () => {
  it('accepts a record with every value, a warm-up one with none, and a years-old one', () => {
    expect(v({})).toBeNull();
    expect(validatePriceFeatures(warmUpBar('BRK.B', 0, 100))).toBeNull();
    expect(v({ eventTime: Date.UTC(2001, 0, 1), computedAt: Date.UTC(2001, 0, 1) })).toBeNull();
    expect(v({ interval: '1d', rsi: 0, macdHistogram: -0.5 })).toBeNull();
  });

  it('rejects what the stores cannot agree on, naming the field', () => {
    expect(v({ symbol: 'aapl' })).toMatch(/symbol/);
    expect(v({ interval: 'tick' })).toMatch(/interval "tick"/);
    expect(v({ interval: '2h' })).toMatch(/interval/);
    expect(v({ eventTime: 0 })).toMatch(/eventTime/);
    expect(v({ computedAt: Number.NaN })).toMatch(/computedAt/);
    expect(v({ bars: 0 })).toMatch(/bars/);
    expect(v({ bars: 1.5 })).toMatch(/bars/);
    expect(v({ close: 0 })).toMatch(/close/);
    expect(v({ definition: ' ' })).toMatch(/definition/);
    for (const field of FEATURE_VALUES) {
      expect(v({ [field]: Number.NaN }), field).toMatch(new RegExp(`^${field} is not a finite number`));
      expect(v({ [field]: Number.POSITIVE_INFINITY }), field).toMatch(new RegExp(`^${field}`));
    }
  });

  it('names every nullable double of the schema as an indicator value', () => {
    const fields = (loadSchema('price-features.avsc').json as { fields: { name: string; type: unknown }[] }).fields;
    const nullableDoubles = fields.filter((f) => JSON.stringify(f.type) === '["null","double"]').map((f) => f.name);
    expect([...FEATURE_VALUES]).toEqual(nullableDoubles);
  });
});
