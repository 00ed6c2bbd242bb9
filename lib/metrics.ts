// Prometheus metrics (prom-client): one Registry per process with the default process metrics, and one small
// recording function per thing worth counting. Callers record per batch or per call, never per record with fresh
// labels: each function resolves its label set once per call. Names follow Prometheus conventions (base units,
// `_total` counters, `marketstream_` prefix); the README's metrics table is written from `metricsDoc` below.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitState } from './resilience.ts';


/** The enricher's Claude call report (same shape as consumers/enricher ClaudeCall). */
export interface ClaudeCallReport {
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  outcome: string;
  eventId?: string;
}

export interface SinkBatchReport {
  sink: string;
  group: string;
  topic: string;
  /** Records in the Kafka batch (written + dead-lettered). */
  records: number;
  /** Records written to the store. */
  written: number;
  /** Time the store write took, ms. */
  writeMs: number;
  /** Kafka timestamps (ms) of the written records: the start of the end-to-end latency. */
  timestamps: readonly number[];
  /** When the write finished (ms): the end of the end-to-end latency. */
  writtenAt: number;
  /** Writes the store refused because it held a newer version (a stale writer, a redelivery, a replay). */
  stale?: number;
}

/** The age of a store's newest bar of a series: now minus the bar's end (lib/freshness.ts barEnd). */
export interface DataAge { store: string; symbol: string; interval: string; seconds: number }

export interface Metrics {
  readonly registry: Registry;
  /** Prometheus text exposition of every metric. */
  scrape(): Promise<string>;
  readonly contentType: string;
  recordsProduced(topic: string, n: number): void;
  sinkBatch(b: SinkBatchReport): void;
  deadLettered(topic: string, reason: string, n?: number): void;
  /** An error worth alerting on; `kind` is a bounded class name or code (TransientError, KafkaJSConnectionError, …). */
  error(component: string, kind: string): void;
  sourceFetch(source: string, outcome: 'ok' | 'empty' | 'error'): void;
  /** Bars a live source could no longer fetch after an outage longer than its lookback (for `backfill --gaps`). */
  sourceGap(source: string, interval: string, bars: number): void;
  /** The price source chain's answering member changed from `from` to `to` (from null: the first answer, not a switch). */
  sourceSwitch(from: string | null, to: string, chain: readonly string[]): void;
  circuitState(upstream: string, state: CircuitState): void;
  consumerLag(group: string, topic: string, partition: number, lag: number): void;
  /** Lag in seconds of a partition (the age of its oldest unconsumed record); null: unknown, the sample is removed. */
  consumerLagSeconds(group: string, topic: string, partition: number, seconds: number | null): void;
  /**
   * Adds a source of marketstream_data_age_seconds, asked at each scrape (an age grows between writes, so it is
   * computed when read); returns its removal. Several sources reporting the same series: the youngest age wins.
   */
  dataAgeSource(source: () => Iterable<DataAge>): () => void;
  groupStalled(group: string, stalled: boolean): void;
  /** Pass as the enricher classifier's `onCall`. */
  claudeCall(call: ClaudeCallReport): void;
  /** The features group: feature records published, of which recomputed after a correction or a late bar; its state. */
  featuresComputed(interval: string, n: number, recomputed: number): void;
  featuresState(keys: number, bars: number): void;
  /** Every series' missing bars at one count (ops/gaps): series left out of `counts` lose their gauge. */
  priceMissingBars(counts: ReadonlyArray<{ symbol: string; interval: string; missing: number }>): void;
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** name, type, labels and meaning of every marketstream metric (README table). */
export const metricsDoc = [
  ['marketstream_records_produced_total', 'counter', 'topic', 'Records a producer published (acknowledged by Kafka)'],
  ['marketstream_records_consumed_total', 'counter', 'topic, group', 'Records a consumer group processed (written or dead-lettered) and committed'],
  ['marketstream_sink_batch_records', 'histogram', 'sink, topic', 'Records per batch handed to a sink'],
  ['marketstream_sink_write_duration_seconds', 'histogram', 'sink, topic', 'Time a sink took to write one batch (retries included)'],
  ['marketstream_end_to_end_latency_seconds', 'histogram', 'sink, topic', 'Kafka record timestamp (production) to store write, per record'],
  ['marketstream_sink_last_write_timestamp_seconds', 'gauge', 'sink', 'Unix time of the last successful store write'],
  ['marketstream_consumer_lag_records', 'gauge', 'group, topic, partition', 'Latest offset minus the group\'s committed offset (from the broker)'],
  ['marketstream_consumer_lag_seconds', 'gauge', 'group, topic, partition',
    'Age of the oldest record the group has not consumed (now minus its Kafka timestamp, read at the committed offset); 0 when caught up'],
  ['marketstream_data_age_seconds', 'gauge', 'store, symbol, interval',
    'Age of the newest bar a sink of this process wrote per symbol and interval: now minus the bar\'s end (by GAPS_CALENDAR)'],
  ['marketstream_consumer_group_stalled', 'gauge', 'group', '1 while the group has lag but made no progress for STALL_SECONDS'],
  ['marketstream_stale_writes_refused_total', 'counter', 'sink, topic',
    'Writes a store refused because it held a newer version of the row, key, node or relationship (stale writer, redelivery, replay)'],
  ['marketstream_dlq_records_total', 'counter', 'topic, reason', 'Records sent to <topic>.dlq; reason is the error class'],
  ['marketstream_errors_total', 'counter', 'component, kind', 'Errors by component and error class (store retries, failed sends, failed fetches)'],
  ['marketstream_source_fetches_total', 'counter', 'source, outcome', 'Source fetches: ok, empty or error'],
  ['marketstream_source_gap_bars_total', 'counter', 'source, interval',
    'Session bars a live source missed in an outage longer than its lookback (Yahoo lookbackMinutes): fill them with backfill --gaps'],
  ['marketstream_source_switches_total', 'counter', 'from, to', 'Switches of the price source chain from one source to another (failover, and back)'],
  ['marketstream_source_active', 'gauge', 'source', 'Price source chain: 1 for the source that answered the last poll, 0 for the others'],
  ['marketstream_circuit_state', 'gauge', 'upstream', 'Circuit breaker state: 0 closed, 1 half-open, 2 open'],
  ['marketstream_claude_requests_total', 'counter', 'model, outcome', 'Claude Messages API requests by outcome'],
  ['marketstream_claude_input_tokens_total', 'counter', 'model', 'Claude input tokens'],
  ['marketstream_claude_output_tokens_total', 'counter', 'model', 'Claude output tokens'],
  ['marketstream_claude_cost_usd_total', 'counter', 'model', 'Claude spend in US dollars (price table or CLAUDE_PRICE_PER_MTOK)'],
  ['marketstream_claude_request_duration_seconds', 'histogram', 'model', 'Claude request latency'],
  ['marketstream_features_computed_total', 'counter', 'interval', 'Feature records the features group published (a bar\'s values, new or changed)'],
  ['marketstream_features_recomputed_total', 'counter', 'interval',
    'Of those, bars recomputed because a correction or a late bar changed an earlier bar of their key'],
  ['marketstream_features_state_keys', 'gauge', '', 'Symbol and interval series a features member holds in memory'],
  ['marketstream_features_state_bars', 'gauge', '', 'Bars those series hold (what a correction or a late bar is recomputed over)'],
  ['marketstream_price_missing_bars', 'gauge', 'symbol, interval',
    'Bars of a SYMBOLS series missing in price_data against the exchange calendar over GAPS_LOOKBACK_DAYS (postgres-sink, every GAPS_REFRESH_SECONDS)'],
] as const;

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const help = (name: string) => metricsDoc.find((m) => m[0] === name)![3];
  const counter = <L extends string>(name: string, labelNames: L[]) => new Counter<L>({ name, help: help(name), labelNames, registers: [registry] });
  const gauge = <L extends string>(name: string, labelNames: L[]) => new Gauge<L>({ name, help: help(name), labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, labelNames: L[], buckets: number[]) =>
    new Histogram<L>({ name, help: help(name), labelNames, buckets, registers: [registry] });

  const produced = counter('marketstream_records_produced_total', ['topic']);
  const consumed = counter('marketstream_records_consumed_total', ['topic', 'group']);
  const batchSize = histogram('marketstream_sink_batch_records', ['sink', 'topic'], [1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000]);
  const writeTime = histogram('marketstream_sink_write_duration_seconds', ['sink', 'topic'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  const e2e = histogram('marketstream_end_to_end_latency_seconds', ['sink', 'topic'], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]);
  const lastWrite = gauge('marketstream_sink_last_write_timestamp_seconds', ['sink']);
  const lag = gauge('marketstream_consumer_lag_records', ['group', 'topic', 'partition']);
  const lagSeconds = gauge('marketstream_consumer_lag_seconds', ['group', 'topic', 'partition']);
  const ageSources = new Set<() => Iterable<DataAge>>();
  new Gauge({
    name: 'marketstream_data_age_seconds', help: help('marketstream_data_age_seconds'), labelNames: ['store', 'symbol', 'interval'], registers: [registry],
    collect() {
      this.reset();
      const youngest = new Map<string, DataAge>();
      for (const source of ageSources) {
        for (const a of source()) {
          const k = `${a.store}\u0000${a.symbol}\u0000${a.interval}`;
          if (!youngest.has(k) || youngest.get(k)!.seconds > a.seconds) youngest.set(k, a);
        }
      }
      for (const a of youngest.values()) this.labels(a.store, a.symbol, a.interval).set(a.seconds);
    },
  });
  const stalled = gauge('marketstream_consumer_group_stalled', ['group']);
  const dlq = counter('marketstream_dlq_records_total', ['topic', 'reason']);
  const stale = counter('marketstream_stale_writes_refused_total', ['sink', 'topic']);
  const errors = counter('marketstream_errors_total', ['component', 'kind']);
  const fetches = counter('marketstream_source_fetches_total', ['source', 'outcome']);
  const gapBars = counter('marketstream_source_gap_bars_total', ['source', 'interval']);
  const switches = counter('marketstream_source_switches_total', ['from', 'to']);
  const activeSource = gauge('marketstream_source_active', ['source']);
  const circuit = gauge('marketstream_circuit_state', ['upstream']);
  const claudeRequests = counter('marketstream_claude_requests_total', ['model', 'outcome']);
  const claudeIn = counter('marketstream_claude_input_tokens_total', ['model']);
  const claudeOut = counter('marketstream_claude_output_tokens_total', ['model']);
  const claudeCost = counter('marketstream_claude_cost_usd_total', ['model']);
  const claudeLatency = histogram('marketstream_claude_request_duration_seconds', ['model'], [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]);
  const featuresComputed = counter('marketstream_features_computed_total', ['interval']);
  const featuresRecomputed = counter('marketstream_features_recomputed_total', ['interval']);
  const featureKeys = gauge('marketstream_features_state_keys', []);
  const featureBars = gauge('marketstream_features_state_bars', []);
  const missingBars = gauge('marketstream_price_missing_bars', ['symbol', 'interval']);

  return {
    registry,
    contentType: registry.contentType,
    scrape: () => registry.metrics(),
    recordsProduced(topic, n) { if (n > 0) produced.labels(topic).inc(n); },
    sinkBatch(b) {
      if (b.records > 0) consumed.labels(b.topic, b.group).inc(b.records);
      if (b.stale) stale.labels(b.sink, b.topic).inc(b.stale);
      if (b.written === 0) return;
      batchSize.labels(b.sink, b.topic).observe(b.written);
      writeTime.labels(b.sink, b.topic).observe(b.writeMs / 1000);
      lastWrite.labels(b.sink).set(b.writtenAt / 1000);
      const latency = e2e.labels(b.sink, b.topic);
      for (const t of b.timestamps) latency.observe(Math.max(0, b.writtenAt - t) / 1000);
    },
    deadLettered(topic, reason, n = 1) { if (n > 0) dlq.labels(topic, reason).inc(n); },
    error(component, kind) { errors.labels(component, kind).inc(); },
    sourceFetch(source, outcome) { fetches.labels(source, outcome).inc(); },
    sourceGap(source, interval, n) { if (n > 0) gapBars.labels(source, interval).inc(n); },
    sourceSwitch(from, to, chain) {
      if (from !== null) switches.labels(from, to).inc();
      for (const s of chain) activeSource.labels(s).set(s === to ? 1 : 0);
    },
    circuitState(upstream, state) { circuit.labels(upstream).set(CIRCUIT_VALUE[state]); },
    consumerLag(group, topic, partition, n) { lag.labels(group, topic, String(partition)).set(n); },
    consumerLagSeconds(group, topic, partition, seconds) {
      if (seconds === null) lagSeconds.remove(group, topic, String(partition));
      else lagSeconds.labels(group, topic, String(partition)).set(seconds);
    },
    dataAgeSource(source) {
      ageSources.add(source);
      return () => { ageSources.delete(source); };
    },
    groupStalled(group, is) { stalled.labels(group).set(is ? 1 : 0); },
    claudeCall(c) {
      claudeRequests.labels(c.model, c.outcome).inc();
      if (c.inputTokens > 0) claudeIn.labels(c.model).inc(c.inputTokens);
      if (c.outputTokens > 0) claudeOut.labels(c.model).inc(c.outputTokens);
      if (c.costUsd > 0) claudeCost.labels(c.model).inc(c.costUsd);
      claudeLatency.labels(c.model).observe(c.latencyMs / 1000);
    },
    featuresComputed(interval, n, recomputed) {
      if (n > 0) featuresComputed.labels(interval).inc(n);
      if (recomputed > 0) featuresRecomputed.labels(interval).inc(recomputed);
    },
    featuresState(keys, bars) { featureKeys.set(keys); featureBars.set(bars); },
    priceMissingBars(counts) {
      // Reset and set in one synchronous step: a scrape never sees the gauge half empty.
      missingBars.reset();
      for (const c of counts) missingBars.labels(c.symbol, c.interval).set(c.missing);
    },
  };
}

let shared: Metrics | undefined;

/**
 * The process's metrics: what `/metrics` serves for CLI commands. Components the CLI builds without a dependency path
 * (e.g. a sink's factory creating the enricher classifier) record here: `onCall: processMetrics().claudeCall`.
 */
export function processMetrics(): Metrics {
  return shared ??= createMetrics();
}
