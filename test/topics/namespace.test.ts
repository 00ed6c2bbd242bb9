// PRICE_UPDATES_TOPIC: price-updates under another name (a namespace on a shared cluster), with its own DLQ and subject.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { plannedTopics } from '../../topics/admin.ts';
import { configuredTopics, priceUpdates, priceUpdatesOf } from '../../topics/index.ts';

describe('PRICE_UPDATES_TOPIC', () => {
  it('defaults to price-updates itself', () => {
    expect(priceUpdatesOf(loadConfig({}))).toBe(priceUpdates);
  });

  it('renames the topic, its DLQ and subject, and what topics create plans', () => {
    const config = loadConfig({ PRICE_UPDATES_TOPIC: 'staging.price-updates' });
    expect(priceUpdatesOf(config)).toMatchObject({ name: 'staging.price-updates', dlq: 'staging.price-updates.dlq', subject: 'staging.price-updates-value' });
    expect(configuredTopics(config).map((t) => t.name)).toEqual(['staging.price-updates', 'market-events', 'graph-mutations', 'price-features']);
    expect(plannedTopics(config).map((t) => t.name)).toContain('staging.price-updates.dlq');
  });

  it('rejects a name Kafka would refuse', () => {
    expect(() => loadConfig({ PRICE_UPDATES_TOPIC: 'prices/now' })).toThrow(/PRICE_UPDATES_TOPIC: expected a Kafka topic name/);
  });
});
