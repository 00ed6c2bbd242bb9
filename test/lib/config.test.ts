import { describe, expect, it } from 'vitest';
import { configSpec, FRESHNESS_LIMIT_DEFAULTS, loadConfig, neo4jDatabase } from '../../lib/config.ts';
import { kafkaBrokerList, kafkaNodes } from '../../stack/services/kafka.ts';
import { ConfigError } from '../../lib/errors.ts';

describe('configuration', () => {
  it('defaults point at the local stack (spec §6)', () => {
    const c = loadConfig({});
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(c.SCHEMA_REGISTRY_URL).toBe('http://127.0.0.1:8081');
    expect(c.POSTGRES_URL).toBe('postgres://marketstream:marketstream@127.0.0.1:5432/marketstream');
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.NEO4J_URL).toBe('bolt://127.0.0.1:7687');
    expect([c.NEO4J_USER, c.NEO4J_PASSWORD]).toEqual(['neo4j', 'marketstream']);
    expect(c.ANTHROPIC_MODEL).toBe('claude-haiku-5-5');
    expect(c.SYMBOLS).toEqual(['AAPL', 'MSFT', 'GOOGL', 'TSLA', 'NVDA']);
    expect(c.PRICE_POLL_SECONDS).toBe(60);
    expect(c.REDIS_LATEST_TTL_SECONDS).toBe(60);
    expect(c.REDIS_BARS_CAP).toBe(5000);
  });

  it('a bad value fails at start with a message naming the variable and what is expected', () => {
    const bad = { KAFKA_BROKERS: 'localhost', METRICS_PORT: 'ninety', POSTGRES_URL: 'mysql://x', LOG_LEVEL: 'loud' };
    let err: unknown;
    try { loadConfig(bad); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(/KAFKA_BROKERS: expected a comma-separated list of host:port/);
    expect(message).toMatch(/METRICS_PORT: expected an integer/);
    expect(message).toMatch(/POSTGRES_URL: expected a URL starting with postgres:\/\//);
    expect(message).toMatch(/LOG_LEVEL: expected trace, debug/);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:1, b:2', SYMBOLS: 'AAPL,BRK.B', KAFKA_SSL: 'true', TOPIC_PARTITIONS: '12' });
    expect(c.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(c.SYMBOLS).toEqual(['AAPL', 'BRK.B']);
    expect(c.KAFKA_SSL).toBe(true);
    expect(c.TOPIC_PARTITIONS).toBe(12);
  });

  it('the sinks\' options are variables: defaults, values, and errors naming the variable', () => {
    const d = loadConfig({});
    expect([d.POSTGRES_SINK_POOL_SIZE, d.ENRICHER_POOL_SIZE, d.NEO4J_DATABASE, neo4jDatabase(d)]).toEqual([8, 4, '', undefined]);
    const c = loadConfig({ POSTGRES_SINK_POOL_SIZE: '2', ENRICHER_POOL_SIZE: '1', NEO4J_DATABASE: 'marketdata' });
    expect([c.POSTGRES_SINK_POOL_SIZE, c.ENRICHER_POOL_SIZE, neo4jDatabase(c)]).toEqual([2, 1, 'marketdata']);
    expect(() => loadConfig({ POSTGRES_SINK_POOL_SIZE: '0' })).toThrow(/POSTGRES_SINK_POOL_SIZE: expected an integer >= 1 \(got "0"\)/);
    expect(() => loadConfig({ ENRICHER_POOL_SIZE: 'many' })).toThrow(/ENRICHER_POOL_SIZE: expected an integer/);
  });

  it('a source outside the known ones is refused with the list of the known ones', () => {
    const known = /expected one of synthetic, yahoo, alphavantage, twelvedata, file, or several of them comma-separated \(each once\)/;
    expect(() => loadConfig({ PRICE_SOURCE: 'bloomberg' })).toThrow(new RegExp(`PRICE_SOURCE: ${known.source} \\(got "bloomberg"\\)`));
    expect(() => loadConfig({ PRICE_SOURCE: 'yahoo,polygon' })).toThrow(known);
    expect(() => loadConfig({ PRICE_SOURCE: 'yahoo,alphavantage,yahoo' })).toThrow(known); // each once
    // A chain, in order of preference, any subset and order.
    expect(loadConfig({ PRICE_SOURCE: 'twelvedata, yahoo,alphavantage' }).PRICE_SOURCE).toEqual(['twelvedata', 'yahoo', 'alphavantage']);
    expect(loadConfig({}).PRICE_SOURCE).toEqual(['synthetic']);
    expect(() => loadConfig({ EVENT_SOURCE: 'rss' })).toThrow(/EVENT_SOURCE: expected file or yahoo \(got "rss"\)/);
  });

  it('KAFKA_BROKERS, when unset, lists every broker of the local stack (STACK_KAFKA_BROKERS); when set, it is what it says', () => {
    expect(loadConfig({ STACK_KAFKA_BROKERS: '3' }).KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9094', '127.0.0.1:9096']);
    expect(loadConfig({ STACK_KAFKA_BROKERS: '3', KAFKA_BROKERS: '' }).KAFKA_BROKERS).toHaveLength(3);
    expect(loadConfig({ STACK_KAFKA_BROKERS: '3', KAFKA_BROKERS: 'b1:9092' }).KAFKA_BROKERS).toEqual(['b1:9092']);
    // The brokers `stack up` starts are the ones the default names.
    for (const n of [1, 2, 3, 5]) {
      const { KAFKA_BROKERS } = loadConfig({ STACK_KAFKA_BROKERS: String(n) });
      expect(KAFKA_BROKERS).toEqual(kafkaNodes(n).map((node) => node.address));
      expect(KAFKA_BROKERS.join(',')).toBe(kafkaBrokerList(n));
    }
    expect(configSpec.KAFKA_BROKERS.doc).toContain('127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096');
  });

  it('FRESHNESS_LIMITS: seconds per interval, the others kept at their defaults; anything else names the variable', () => {
    expect(loadConfig({}).FRESHNESS_LIMITS).toEqual(FRESHNESS_LIMIT_DEFAULTS);
    expect(loadConfig({ FRESHNESS_LIMITS: '1m=120, 1d=3600.5' }).FRESHNESS_LIMITS).toEqual({ ...FRESHNESS_LIMIT_DEFAULTS, '1m': 120, '1d': 3600.5 });
    for (const bad of ['2m=60', '1m=0', '1m=-5', '1m', '1m=5=6', '1m=abc']) {
      expect(() => loadConfig({ FRESHNESS_LIMITS: bad }), bad).toThrow(/FRESHNESS_LIMITS: expected interval=seconds pairs/);
    }
    expect(loadConfig({ LAG_WARN_SECONDS: '30' }).LAG_WARN_SECONDS).toBe(30);
  });

  it('documents every variable', () => {
    for (const [name, field] of Object.entries(configSpec)) expect(field.doc, name).toBeTruthy();
  });
});
