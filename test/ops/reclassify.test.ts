// enrich reclassify without servers: what it selects by default, the model match that keeps a second run from asking
// again, and that asking (not a dry run) needs an API key.
import { describe, expect, it } from 'vitest';
import { snapshotPattern } from '../../consumers/enricher/reclassify.ts';
import { ConfigError } from '../../lib/errors.ts';
import { reclassify, selectionOf } from '../../ops/enrich/reclassify.ts';
import { testConfig, testLogger } from '../helpers/index.ts';

describe('enrich reclassify', () => {
  const config = testConfig({ ANTHROPIC_MODEL: 'claude-haiku-5-5' });

  it('selects the rules\' classifications by default, and any other model\'s too when a model is chosen', () => {
    expect(selectionOf({ config })).toEqual({ from: 'rules', model: 'claude-haiku-5-5' });
    expect(selectionOf({ config, model: 'claude-sonnet-5-5' })).toEqual({ from: 'any', model: 'claude-sonnet-5-5' });
    expect(selectionOf({ config, from: 'claude', since: 5, symbols: ['AAPL'] })).toEqual({ from: 'claude', model: 'claude-haiku-5-5',
      since: 5, symbols: ['AAPL'] });
  });

  it('counts a dated snapshot of the chosen model as that model (an alias answers with its snapshot id)', () => {
    const re = new RegExp(snapshotPattern('claude-haiku-4-5'));
    expect(re.test('claude-haiku-4-5-20251001')).toBe(true);
    expect(re.test('claude-haiku-4-5-1')).toBe(false);
    expect(re.test('claude-haiku-4-50-20251001')).toBe(false);
    expect(new RegExp(snapshotPattern('a.b')).test('axb-20250101')).toBe(false); // the model id is matched literally
  });

  it('refuses to ask Claude without ANTHROPIC_API_KEY (a dry run does not need one)', async () => {
    await expect(reclassify({ config: testConfig({ ANTHROPIC_API_KEY: '' }), logger: testLogger('reclassify') })).rejects.toBeInstanceOf(ConfigError);
  });
});
