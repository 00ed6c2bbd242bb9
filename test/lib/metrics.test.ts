// Metrics: what each recording function adds to the exposition that Prometheus scrapes.
import { describe, expect, it } from 'vitest';
import { createMetrics, metricsDoc } from '../../lib/metrics.ts';
import { sample } from '../helpers/metrics.ts';


describe('metrics', () => {
  it('counts produced and consumed records, batch sizes, write and end-to-end latency per batch', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recordsProduced('price-updates', 3);
    m.recordsProduced('price-updates', 2);
    m.sinkBatch({ sink: 'postgres-sink', group: 'g', topic: 'price-updates', records: 4, written: 3, writeMs: 20,
      timestamps: [1000, 1500, 2000], writtenAt: 3000 });
    const text = await m.scrape();
    expect(sample(text, 'marketstream_records_produced_total', { topic: 'price-updates' })).toBe(5);
    expect(sample(text, 'marketstream_records_consumed_total', { topic: 'price-updates', group: 'g' })).toBe(4);
    expect(sample(text, 'marketstream_sink_batch_records_sum', { sink: 'postgres-sink', topic: 'price-updates' })).toBe(3);
    expect(sample(text, 'marketstream_sink_write_duration_seconds_sum', { sink: 'postgres-sink', topic: 'price-updates' })).toBeCloseTo(0.02);
    expect(sample(text, 'marketstream_end_to_end_latency_seconds_count', { sink: 'postgres-sink', topic: 'price-updates' })).toBe(3);
    expect(sample(text, 'marketstream_end_to_end_latency_seconds_sum', { sink: 'postgres-sink', topic: 'price-updates' })).toBeCloseTo(2 + 1.5 + 1);
    expect(sample(text, 'marketstream_end_to_end_latency_seconds_bucket', { sink: 'postgres-sink', topic: 'price-updates', le: '1' })).toBe(1);
    expect(sample(text, 'marketstream_sink_last_write_timestamp_seconds', { sink: 'postgres-sink' })).toBe(3);
  });

  it('a batch of only dead-lettered records counts as consumed but not as a write', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.sinkBatch({ sink: 'redis-sink', group: 'g', topic: 't', records: 2, written: 0, writeMs: 0, timestamps: [], writtenAt: 5000 });
    m.deadLettered('t', 'ValidationError', 2);
    const text = await m.scrape();
    expect(sample(text, 'marketstream_records_consumed_total', { topic: 't', group: 'g' })).toBe(2);
    expect(sample(text, 'marketstream_sink_batch_records_count', { sink: 'redis-sink', topic: 't' })).toBeUndefined();
    expect(sample(text, 'marketstream_dlq_records_total', { topic: 't', reason: 'ValidationError' })).toBe(2);
  });

  it('circuit state is 0 closed, 1 half-open, 2 open; lag and stall gauges follow the last value', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const states: Array<[Parameters<typeof m.circuitState>[1], number]> = [['closed', 0], ['open', 2], ['half-open', 1]];
    for (const [state, value] of states) {
      m.circuitState('yahoo', state);
      expect(sample(await m.scrape(), 'marketstream_circuit_state', { upstream: 'yahoo' })).toBe(value);
    }
    m.consumerLag('g', 't', 3, 17);
    m.consumerLag('g', 't', 3, 0);
    m.groupStalled('g', true);
    const text = await m.scrape();
    expect(sample(text, 'marketstream_consumer_lag_records', { group: 'g', topic: 't', partition: '3' })).toBe(0);
    expect(sample(text, 'marketstream_consumer_group_stalled', { group: 'g' })).toBe(1);
  });

  it('claudeCall works unbound (passed as the classifier onCall) and adds requests, tokens, cost and latency', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const onCall = m.claudeCall;
    onCall({ model: 'claude-haiku-5-5', eventId: 'e1', inputTokens: 800, outputTokens: 150, costUsd: 0.0012, latencyMs: 900, outcome: 'ok' });
    onCall({ model: 'claude-haiku-5-5', eventId: 'e2', inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs: 30_000, outcome: 'timeout' });
    const text = await m.scrape();
    expect(sample(text, 'marketstream_claude_requests_total', { model: 'claude-haiku-5-5', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'marketstream_claude_requests_total', { model: 'claude-haiku-5-5', outcome: 'timeout' })).toBe(1);
    expect(sample(text, 'marketstream_claude_input_tokens_total', { model: 'claude-haiku-5-5' })).toBe(800);
    expect(sample(text, 'marketstream_claude_output_tokens_total', { model: 'claude-haiku-5-5' })).toBe(150);
    expect(sample(text, 'marketstream_claude_cost_usd_total', { model: 'claude-haiku-5-5' })).toBeCloseTo(0.0012);
    expect(sample(text, 'marketstream_claude_request_duration_seconds_count', { model: 'claude-haiku-5-5' })).toBe(2);
  });

  it('counts the price source chain\'s switches by from and to, and shows which source answers', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const chain = ['yahoo', 'alphavantage', 'twelvedata'];
    m.sourceSwitch(null, 'yahoo', chain); // the first answer is not a switch
    m.sourceSwitch('yahoo', 'alphavantage', chain);
    m.sourceSwitch('alphavantage', 'yahoo', chain);
    m.sourceSwitch('yahoo', 'alphavantage', chain);
    const text = await m.scrape();
    expect(sample(text, 'marketstream_source_switches_total', { from: 'yahoo', to: 'alphavantage' })).toBe(2);
    expect(sample(text, 'marketstream_source_switches_total', { from: 'alphavantage', to: 'yahoo' })).toBe(1);
    expect(text).not.toMatch(/marketstream_source_switches_total\{from="null"/);
    expect(chain.map((source) => sample(text, 'marketstream_source_active', { source }))).toEqual([0, 1, 0]);
  });

  it('exposes the default process metrics and documents every marketstream metric it registers', async () => {
    const m = createMetrics();
    m.error('postgres-sink', 'TransientError');
    m.sourceFetch('yahoo', 'error');
    const text = await m.scrape();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(sample(text, 'marketstream_errors_total', { component: 'postgres-sink', kind: 'TransientError' })).toBe(1);
    expect(sample(text, 'marketstream_source_fetches_total', { source: 'yahoo', outcome: 'error' })).toBe(1);
    const registered = (await m.registry.getMetricsAsJSON()).map((x) => x.name).filter((n) => n.startsWith('marketstream_'));
    expect(registered.sort()).toEqual(metricsDoc.map((d) => d[0]).sort());
    for (const [name, type] of metricsDoc) {
      expect(name).toMatch(/^marketstream_[a-z_]+$/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
  });

  it('lag in seconds per partition; an unknown one removes the sample', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.consumerLagSeconds('g', 't', 0, 12.5);
    m.consumerLagSeconds('g', 't', 1, 0);
    let text = await m.scrape();
    expect(sample(text, 'marketstream_consumer_lag_seconds', { group: 'g', topic: 't', partition: '0' })).toBe(12.5);
    expect(sample(text, 'marketstream_consumer_lag_seconds', { group: 'g', topic: 't', partition: '1' })).toBe(0);
    m.consumerLagSeconds('g', 't', 0, null);
    text = await m.scrape();
    expect(sample(text, 'marketstream_consumer_lag_seconds', { group: 'g', topic: 't', partition: '0' })).toBeUndefined();
  });

  it('data age is asked of its sources at each scrape; the youngest of a series wins; a removed source is gone', async () => {
    const m = createMetrics({ defaultMetrics: false });
    let age = 30;
    const remove = m.dataAgeSource(() => [{ store: 'redis', symbol: 'AAPL', interval: '1m', seconds: age }]);
    m.dataAgeSource(() => [{ store: 'redis', symbol: 'AAPL', interval: '1m', seconds: 90 }, { store: 'postgres', symbol: 'AAPL', interval: '1m', seconds: 5 }]);
    expect(sample(await m.scrape(), 'marketstream_data_age_seconds', { store: 'redis', symbol: 'AAPL', interval: '1m' })).toBe(30);
    age = 45;
    expect(sample(await m.scrape(), 'marketstream_data_age_seconds', { store: 'redis', symbol: 'AAPL', interval: '1m' })).toBe(45);
    remove();
    const text = await m.scrape();
    expect(sample(text, 'marketstream_data_age_seconds', { store: 'redis', symbol: 'AAPL', interval: '1m' })).toBe(90);
    expect(sample(text, 'marketstream_data_age_seconds', { store: 'postgres', symbol: 'AAPL', interval: '1m' })).toBe(5);
  });
});
