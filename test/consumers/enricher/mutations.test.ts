// What the enricher publishes for a classification: the MarketEvent node (classification, classifier, model), one
// AFFECTS per affected company under the spec's entity keys, all passing the graph's validator; AFFECTS deletes for
// a withdrawn event; and the last record of each event id deciding within a batch.
import { describe, expect, it } from 'vitest';
import { deletionMutations, enrichmentMutations } from '../../../consumers/enricher/mutations.ts';
import type { Classification } from '../../../consumers/enricher/types.ts';
import { lastStatePerKey } from '../../../consumers/postgres/market-events.ts';
import type { MarketEvent } from '../../../schemas/types.generated.ts';
import { validateGraphMutation } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';

const NOW = Date.UTC(2026, 10, 26, 12);
const event: MarketEvent = {
  id: '0f3a9c0e5b7d4e21a6c8b9d0e1f2a3b4', symbols: ['MSFT'], headline: 'Microsoft agrees to acquire security firm', summary: null,
  source: 'Wire', url: 'https://example.com/x', publishedAt: Date.UTC(2026, 10, 16, 12, 30), category: 'Deals', ingestTime: NOW - 1000,
};
const classification: Classification = {
  type: 'merger_acquisition', sentiment: 'positive', sentimentScore: 0.4,
  affected: [{ symbol: 'MSFT', relevance: 1 }, { symbol: 'CRWD', relevance: 0.35 }],
  rationale: 'Microsoft is buying a security company.', classifier: 'claude', model: 'claude-haiku-5-5',
};

describe('enricher mutations', () => {
  it('upserts the MarketEvent node and one AFFECTS per affected company, keyed by entity, origin enricher', () => {
    const ms = enrichmentMutations(event, classification, NOW);
    expect(ms.map(graphMutationKey)).toEqual([`MarketEvent:${event.id}`, `AFFECTS:${event.id}:MSFT`, `AFFECTS:${event.id}:CRWD`]);
    expect(ms.every((m) => m.origin === 'enricher' && m.mutationTime === NOW && validateGraphMutation(m, NOW) === null)).toBe(true);
    expect(ms[0]!.op).toEqual({
      UpsertNode: {
        label: 'MarketEvent', key: event.id,
        properties: {
          type: 'merger_acquisition', sentiment: 'positive', sentiment_score: 0.4, headline: event.headline,
          published_at: '2026-11-16T12:30:00.000Z', source: 'Wire', url: 'https://example.com/x',
          classifier: 'claude', model: 'claude-haiku-5-5', rationale: 'Microsoft is buying a security company.',
        },
      },
    });
    expect(ms[2]!.op).toEqual({ UpsertRelationship: { type: 'AFFECTS', from: { label: 'MarketEvent', key: event.id }, to: { label: 'Company', key: 'CRWD' },
      properties: { relevance: 0.35 } } });
  });

  it('publishes only the node for an event that affects no listed company', () => {
    expect(enrichmentMutations(event, { ...classification, affected: [] }, NOW).map(graphMutationKey)).toEqual([`MarketEvent:${event.id}`]);
  });

  it('deletes the AFFECTS relationships of a withdrawn event', () => {
    const ms = deletionMutations(event.id, ['MSFT', 'CRWD'], NOW);
    expect(ms.map((m) => m.op)).toEqual([
      { DeleteRelationship: { type: 'AFFECTS', from: { label: 'MarketEvent', key: event.id }, to: { label: 'Company', key: 'MSFT' } } },
      { DeleteRelationship: { type: 'AFFECTS', from: { label: 'MarketEvent', key: event.id }, to: { label: 'Company', key: 'CRWD' } } },
    ]);
  });
});

describe('last state per event id in a batch', () => {
  it('lets the last record of each id decide: a value upserts, a tombstone deletes', () => {
    const v = (id: string, headline: string) => ({ value: { ...event, id, headline }, key: id, timestamp: 0 });
    const t = (id: string | null) => ({ value: null, key: id, timestamp: 0 });
    const { upserts, deletes } = lastStatePerKey([v('a', 'a1'), v('b', 'b1'), t('a'), v('c', 'c1'), v('b', 'b2'), t('c'), v('c', 'c2'), t(null), t('d')]);
    expect(upserts.map((e) => [e.id, e.headline])).toEqual([['b', 'b2'], ['c', 'c2']]);
    expect(deletes).toEqual(['a', 'd']);
  });
});
