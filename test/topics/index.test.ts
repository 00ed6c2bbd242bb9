// Topic definitions: keys that keep each entity in one partition, and settings derived from configuration.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { allTopics, dlqSettings, graphMutationKey, graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';

describe('topics', () => {
  it('graph mutations are keyed by the entity they change', () => {
    const rel = { type: 'CORRELATED_WITH', from: { label: 'Company', key: 'AAPL' }, to: { label: 'Company', key: 'MSFT' } } as const;
    expect(graphMutationKey({ mutationTime: 1, origin: 'profile',
      op: { UpsertNode: { label: 'Company', key: 'AAPL', properties: {} } } })).toBe('Company:AAPL');
    expect(graphMutationKey({ mutationTime: 1, origin: 'correlation',
      op: { UpsertRelationship: { ...rel, properties: {} } } })).toBe('CORRELATED_WITH:AAPL:MSFT');
    // an upsert and a delete of one relationship share the key, so they stay in order
    expect(graphMutations.key({ mutationTime: 2, origin: 'correlation', op: { DeleteRelationship: rel } })).toBe('CORRELATED_WITH:AAPL:MSFT');
  });

  it('price updates are keyed by symbol, market events by id', () => {
    expect(priceUpdates.key({ symbol: 'NVDA' } as never)).toBe('NVDA');
    expect(marketEvents.key({ id: 'abc' } as never)).toBe('abc');
  });

  it('every topic has a DLQ and a TopicNameStrategy subject; settings follow the configuration', () => {
    const config = loadConfig({ TOPIC_PARTITIONS: '3', PRICE_RETENTION_DAYS: '14', EVENT_RETENTION_DAYS: '30' });
    expect(allTopics.map((t) => t.name)).toEqual(['price-updates', 'market-events', 'graph-mutations', 'price-features']);
    for (const t of allTopics) {
      expect(t.dlq).toBe(`${t.name}.dlq`);
      expect(t.subject).toBe(`${t.name}-value`);
      expect(t.settings(config).partitions).toBe(3);
    }
    expect(priceUpdates.settings(config).retentionMs).toBe(14 * 86_400_000);
    expect(graphMutations.settings(config).retentionMs).toBe(30 * 86_400_000);
    expect(dlqSettings(priceUpdates.settings(config)).partitions).toBe(1);
    const renamed = withName(priceUpdates, 'x-prices');
    expect([renamed.name, renamed.dlq, renamed.subject]).toEqual(['x-prices', 'x-prices.dlq', 'x-prices-value']);
  });
});
