// How the graph-mutations handler turns a batch into Cypher: statement texts only from the whitelist constants,
// grouped per operation and label/type, per-entity order kept, records that cannot be applied refused before anything runs.
import { describe, expect, it } from 'vitest';
import { GRAPH_STATEMENTS } from '../../../consumers/neo4j/graph-cypher.ts';
import { planBatch } from '../../../consumers/neo4j/graph-mutations.ts';
import type { SinkRecord } from '../../../consumers/types.ts';
import { ValidationError } from '../../../lib/errors.ts';
import type { GraphMutation } from '../../../schemas/types.generated.ts';
import { deleteRelationship, upsertNode, upsertRelationship } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';

const T = Date.UTC(2026, 5, 1);
const meta = (time = T) => ({ origin: 'profile', time }) as const;
const rec = (value: GraphMutation, key = graphMutationKey(value)): SinkRecord<GraphMutation> => ({ value, key, timestamp: T + 99 });
const tomb = (key: string): SinkRecord<GraphMutation> => ({ value: null, key, timestamp: T + 99 });
const allTexts = new Set(Object.values(GRAPH_STATEMENTS).flatMap((m) => Object.values(m)));

describe('planBatch', () => {
  it('groups one statement per operation and label/type, node upserts first', () => {
    const plan = planBatch([
      rec(upsertRelationship('IN_SECTOR', 'AAPL', 'Technology', {}, meta())),
      rec(upsertNode('Company', 'AAPL', { name: 'Apple Inc.' }, meta())),
      rec(upsertNode('Company', 'MSFT', { name: 'Microsoft Corporation' }, meta())),
      rec(upsertNode('Sector', 'Technology', {}, meta())),
      rec(upsertRelationship('IN_SECTOR', 'MSFT', 'Technology', {}, meta())),
      tomb('COMPETES_WITH:AAPL:MSFT'),
    ]);
    expect(plan.map((s) => s.text)).toEqual([
      GRAPH_STATEMENTS.upsertNode.Company, GRAPH_STATEMENTS.upsertNode.Sector,
      GRAPH_STATEMENTS.upsertRelationship.IN_SECTOR, GRAPH_STATEMENTS.deleteRelationship.COMPETES_WITH,
    ]);
    expect(plan[0]!.rows).toEqual([
      { entity: 'Company:AAPL', key: 'AAPL', props: { name: 'Apple Inc.' }, time: T, version: null }, // built by hand: no version
      { entity: 'Company:MSFT', key: 'MSFT', props: { name: 'Microsoft Corporation' }, time: T, version: null },
    ]);
    expect(plan[2]!.rows).toHaveLength(2);
    // a tombstone's time is its record timestamp
    expect(plan[3]!.rows).toEqual([{ entity: 'COMPETES_WITH:AAPL:MSFT', from: 'AAPL', to: 'MSFT', time: T + 99, version: null }]);
  });

  it('gives every row its record\'s version', () => {
    const plan = planBatch([{ ...rec(upsertNode('Company', 'AAPL', { a: 1 }, meta())), version: 7 }, { ...tomb('Company:MSFT'), version: 8 }]);
    expect(plan.map((s) => s.rows.map((r) => (r as { version: number }).version))).toEqual([[7], [8]]);
  });

  it('keeps the order of one entity\'s mutations: a repeated entity starts a new segment', () => {
    const plan = planBatch([
      rec(upsertRelationship('COMPETES_WITH', 'AAPL', 'MSFT', { confidence: 0.9 }, meta(T))),
      rec(deleteRelationship('COMPETES_WITH', 'AAPL', 'MSFT', meta(T + 1))),
      rec(upsertRelationship('COMPETES_WITH', 'AAPL', 'MSFT', { confidence: 0.8 }, meta(T + 2))),
    ]);
    expect(plan.map((s) => s.text)).toEqual([
      GRAPH_STATEMENTS.upsertRelationship.COMPETES_WITH, GRAPH_STATEMENTS.deleteRelationship.COMPETES_WITH, GRAPH_STATEMENTS.upsertRelationship.COMPETES_WITH,
    ]);
  });

  it('treats Stock:X and Company:X as one entity', () => {
    const plan = planBatch([rec(upsertNode('Company', 'AAPL', { a: 1 }, meta())), rec(upsertNode('Stock', 'AAPL', { b: 2 }, meta()))]);
    expect(plan).toHaveLength(2);
    // The same node (Company:AAPL, written by the Company statement), so the second upsert starts a segment of its own;
    // another company after it joins that segment.
    const three = planBatch([
      rec(upsertNode('Company', 'AAPL', { a: 1 }, meta())), rec(upsertNode('Stock', 'AAPL', { b: 2 }, meta())),
      rec(upsertNode('Company', 'MSFT', { c: 3 }, meta())),
    ]);
    expect(three.map((s) => s.text)).toEqual([GRAPH_STATEMENTS.upsertNode.Company, GRAPH_STATEMENTS.upsertNode.Company]);
    expect(three.map((s) => s.rows.map((r) => (r as { entity: string }).entity))).toEqual([['Company:AAPL'], ['Company:AAPL', 'Company:MSFT']]);
  });

  it('never puts record data into statement text', () => {
    const plan = planBatch([
      rec(upsertNode('Sector', 'x}) DETACH DELETE (n', {}, meta())),
      rec(upsertNode('Company', 'AAPL', { 'x}) DETACH DELETE (n': 1 } as never, meta())),
    ]);
    for (const s of plan) expect(allTexts.has(s.text)).toBe(true);
  });

  it('refuses a tombstone whose key names nothing in the whitelist, and a record keyed by another entity', () => {
    expect(() => planBatch([tomb('Person:X')])).toThrow(ValidationError);
    expect(() => planBatch([tomb('Company:X) DETACH DELETE (n')])).toThrow(/tombstone not applied/);
    expect(() => planBatch([rec(upsertNode('Company', 'AAPL', {}, meta()), 'Company:MSFT')])).toThrow(/is not the entity key/);
  });
});
