// The redis-sink's key layout (consumers/redis/keys.ts), with no server: the names of the features keys, the SCAN
// patterns rebuild clears and counts, and the history members and hash fields written from a PriceFeatures record.
import { describe, expect, it } from 'vitest';
import { featuresHashFields, featuresMember, KEY_KINDS, redisKeys, redisPatterns } from '../../../consumers/redis/keys.ts';
import { FEATURE_VALUES } from '../../../topics/price-features.ts';
import { BAR_T0, featureBar, warmUpBar } from '../../helpers/index.ts';

describe('redis keys', () => {
  it('name the features of a symbol and interval, and their history, under the features kind', () => {
    expect(redisKeys.features('AAPL', '1m')).toBe('features:AAPL:1m');
    expect(redisKeys.featuresHistory('AAPL', '1m')).toBe('features:AAPL:1m:history');
    expect(redisKeys.latest('AAPL')).toBe('price:AAPL:latest');
    expect(redisKeys.bars('AAPL', '1h')).toBe('bars:AAPL:1h');
    expect(KEY_KINDS).toEqual(['price', 'bars', 'features']);
  });

  it('SCAN patterns: every kind, or only the given symbols (glob characters escaped), or only some kinds', () => {
    expect(redisPatterns()).toEqual(['price:*', 'bars:*', 'features:*']);
    expect(redisPatterns(['BRK.B', 'X*Y'])).toEqual(['price:BRK.B:*', 'bars:BRK.B:*', 'features:BRK.B:*', 'price:X\\*Y:*', 'bars:X\\*Y:*', 'features:X\\*Y:*']);
    expect(redisPatterns(['AAPL'], ['features'])).toEqual(['features:AAPL:*']);
    // Both features keys of a symbol match its pattern; another symbol's with the same prefix do not.
    const glob = (p: string) => new RegExp(`^${p.replace(/\\(.)/g, '$1').replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
    expect([redisKeys.features('AAPL', '1m'), redisKeys.featuresHistory('AAPL', '1m'), redisKeys.features('AAPLX', '1m')]
      .map((k) => glob('features:AAPL:*').test(k))).toEqual([true, true, false]);
  });

  it('a history member is deterministic JSON of the bar\'s values with its version, null where not known', () => {
    const f = featureBar('AAPL', 3, 103);
    const member = featuresMember(f, 17);
    expect(featuresMember({ ...f, computedAt: f.computedAt + 1, definition: 'other' }, 17)).toBe(member); // a replay is the same member
    const parsed = JSON.parse(member);
    expect(Object.keys(parsed)).toEqual(['ts', 'bars', 'close', ...FEATURE_VALUES, 'v']);
    expect(parsed).toMatchObject({ ts: BAR_T0 + 3 * 3_600_000, bars: 43, close: 103, macd: 0.1 + 0.2, rsi: 100 / 3 + 3, v: 17 });
    expect(JSON.parse(featuresMember(warmUpBar('AAPL', 0, 100))))
      .toEqual({ ts: BAR_T0, bars: 1, close: 100, ...Object.fromEntries(FEATURE_VALUES.map((k) => [k, null])) });
  });

  it('the hash fields: every field of the record, \'\' for a null value and for no version', () => {
    const fields = (pairs: string[]) => Object.fromEntries(pairs.flatMap((_, i) => (i % 2 ? [] : [[pairs[i], pairs[i + 1]]])));
    const h = fields(featuresHashFields(featureBar('AAPL', 0, 100, { rsi: null }), 5));
    expect(h).toMatchObject({
      ts: new Date(BAR_T0).toISOString(), interval: '1h', bars: '40', close: '100', version: '5', rsi: '', macd: '0.30000000000000004',
    });
    expect(Object.keys(h)).toEqual(['ts', 'interval', 'bars', 'close', 'definition', 'computedAt', 'version', ...FEATURE_VALUES]);
    expect(fields(featuresHashFields(warmUpBar('AAPL', 0, 100))).version).toBe('');
    expect(Object.values(fields(featuresHashFields(warmUpBar('AAPL', 0, 100)))).filter((v) => v === '').length).toBe(FEATURE_VALUES.length + 1);
  });
});
