// The graph-mutations whitelist: what a sink accepts and rejects before anything reaches Cypher, and entity keys.
import { describe, expect, it } from 'vitest';
import type { GraphMutation } from '../../schemas/types.generated.ts';
import { graphMutationKey } from '../../topics/index.ts';
import {
  deleteRelationship, entityKey, entityOf, long, parseEntityKey, upsertNode, upsertRelationship, validateGraphMutation,
} from '../../topics/graph-model.ts';

const NOW = Date.UTC(2026, 5, 1);
const meta = { origin: 'profile', time: NOW - 1000 } as const;
const valid = (m: GraphMutation) => validateGraphMutation(m, NOW);

describe('validateGraphMutation', () => {
  it('accepts well-formed node and relationship mutations', () => {
    expect(valid(upsertNode('Company', 'BRK-B',
      { name: 'Berkshire Hathaway Inc.', sector: 'Financial Services', employees: long(392400), tags: ['a'], gone: null }, meta))).toBeNull();
    expect(valid(upsertNode('Stock', 'AAPL', { exchange: 'NasdaqGS' }, meta))).toBeNull();
    expect(valid(upsertNode('Industry', 'Software - Infrastructure', {}, meta))).toBeNull();
    expect(valid(upsertNode('MarketEvent', '0f3a9c0e5b7d4e21a6c8b9d0e1f2a3b4', { sentiment_score: -0.4 }, { origin: 'enricher', time: NOW }))).toBeNull();
    expect(valid(upsertRelationship('IN_SECTOR', 'AAPL', 'Technology', {}, meta))).toBeNull();
    expect(valid(upsertRelationship('CORRELATED_WITH', 'AAPL', 'MSFT', { coefficient: 0.87, window_days: long(30) },
      { origin: 'correlation', time: NOW }))).toBeNull();
    expect(valid(deleteRelationship('COMPETES_WITH', 'AAPL', 'MSFT', meta))).toBeNull();
  });

  it('rejects property names that are not lower snake case, including injection attempts, and reserved ones', () => {
    for (const name of ['x}) DETACH DELETE (n', 'Name', '_mutated_at', '1st', 'a-b', 'a b', '', 'x'.repeat(65)]) {
      expect(valid(upsertNode('Company', 'AAPL', { [name]: 'v' }, meta)), name).toMatch(/property name/);
      expect(valid(upsertRelationship('COMPETES_WITH', 'AAPL', 'MSFT', { [name]: 1 }, meta)), name).toMatch(/property name/);
    }
    expect(valid(upsertNode('Company', 'AAPL', { symbol: 'MSFT' }, meta))).toMatch(/reserved/);
    expect(valid(upsertNode('Company', 'AAPL', { last_price: 1 }, meta))).toMatch(/reserved/);
    for (const owned of ['last_vwap', 'last_trades', 'last_price_version']) expect(valid(upsertNode('Company', 'AAPL', { [owned]: 1 }, meta)), owned).toMatch(/reserved/);
    expect(valid(upsertNode('Sector', 'Technology', { name: 'Other' }, meta))).toMatch(/reserved/);
    expect(valid(upsertNode('Company', 'AAPL', { x: Number.NaN }, meta))).toMatch(/finite/);
  });

  it('rejects labels and relationship types outside the whitelist, and ends that do not fit the type', () => {
    expect(valid(upsertNode('Person' as never, 'AAPL', {}, meta))).toMatch(/label "Person" is not one of/);
    expect(valid(upsertNode('Company) DETACH DELETE (n' as never, 'AAPL', {}, meta))).toMatch(/is not one of/);
    const knows = upsertRelationship('COMPETES_WITH', 'AAPL', 'MSFT', {}, meta);
    if ('UpsertRelationship' in knows.op) knows.op.UpsertRelationship.type = 'KNOWS' as never;
    expect(valid(knows)).toMatch(/relationship type "KNOWS"/);
    const wrongEnd = upsertRelationship('IN_SECTOR', 'AAPL', 'Technology', {}, meta);
    if ('UpsertRelationship' in wrongEnd.op) wrongEnd.op.UpsertRelationship.to.label = 'Industry';
    expect(valid(wrongEnd)).toMatch(/IN_SECTOR goes from Company to Sector/);
    expect(valid(upsertRelationship('CORRELATED_WITH', 'AAPL', 'AAPL', {}, meta))).toMatch(/to itself/);
  });

  it('rejects malformed keys and times', () => {
    expect(valid(upsertNode('Company', 'aapl', {}, meta))).toMatch(/not a valid Company symbol/);
    expect(valid(upsertNode('Company', 'A:B', {}, meta))).toMatch(/not a valid Company symbol/);
    expect(valid(upsertNode('Sector', 'Tech:nology', {}, meta))).toMatch(/not a valid Sector name/);
    expect(valid(upsertNode('Sector', ' Technology', {}, meta))).toMatch(/not a valid Sector name/);
    expect(valid(upsertNode('Sector', '', {}, meta))).toMatch(/not a valid Sector name/);
    expect(valid(upsertRelationship('AFFECTS', 'evt 1', 'AAPL', {}, meta))).toMatch(/not a valid MarketEvent id/);
    expect(valid(upsertNode('Company', 'AAPL', {}, { origin: 'profile', time: NOW + 2 * 86_400_000 }))).toMatch(/future/);
    expect(valid(upsertNode('Company', 'AAPL', {}, { origin: 'profile', time: 0 }))).toMatch(/mutationTime/);
  });
});

describe('entity keys', () => {
  it('match the topic key, with Stock folded into Company', () => {
    const m = upsertRelationship('CORRELATED_WITH', 'AAPL', 'MSFT', {}, meta);
    expect(entityKey(entityOf(m))).toBe(graphMutationKey(m));
    expect(entityKey(entityOf(upsertNode('Stock', 'AAPL', {}, meta)))).toBe('Company:AAPL');
  });

  it('parse what a tombstone names, and refuse anything else', () => {
    expect(parseEntityKey('Company:AAPL')).toEqual({ kind: 'node', label: 'Company', key: 'AAPL' });
    expect(parseEntityKey('Stock:AAPL')).toEqual({ kind: 'node', label: 'Company', key: 'AAPL' });
    expect(parseEntityKey('Industry:Software - Infrastructure')).toEqual({ kind: 'node', label: 'Industry', key: 'Software - Infrastructure' });
    expect(parseEntityKey('CORRELATED_WITH:AAPL:MSFT')).toEqual({ kind: 'relationship', type: 'CORRELATED_WITH', from: 'AAPL', to: 'MSFT' });
    for (const bad of ['Person:X', 'Company:AAPL:X', 'Company:aapl', 'KNOWS:A:B', 'IN_SECTOR:AAPL', 'AFFECTS:AAPL:MSFT x', 'AAPL', '']) {
      expect(typeof parseEntityKey(bad), bad).toBe('string');
    }
    expect(parseEntityKey(null)).toMatch(/needs a key/);
  });
});
