// The producing jobs marketstream knows: name → description and factory, like the consumer groups' catalog. Each job is
// built from configuration plus a command's overrides and is ready to start: `produce prices|events|graph|correlations`
// runs one, `run` runs every one of them beside the consumer groups.
import type { Kafka } from 'kafkajs';
import type { CalendarName } from '../lib/calendar.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { CircuitListener } from '../lib/resilience.ts';
import type { Serde } from '../lib/serde.ts';
import { createPgPool } from '../lib/stores/postgres.ts';
import { priceUpdatesOf } from '../topics/index.ts';
import type { PriceInterval } from '../topics/price-update.ts';
import { createCorrelationAnalyzer } from './correlation-analyzer.ts';
import { createEventSource, type EventSourceName } from './events/index.ts';
import { createEventsProducer } from './events-producer.ts';
import { createGraphProducer } from './graph-producer.ts';
import { createCompetitorFinder } from './graph/competitor-finder.ts';
import { createFileProfileSource, SAMPLE_PROFILES_FILE } from './graph/profiles.ts';
import { createYahooProfileSource } from './graph/yahoo-profiles.ts';
import { createPriceProducer } from './price-producer.ts';
import { lastPublishedBars, type LastPublishedQuery } from './resume.ts';
import { defaultOf, instrumentedSource } from './source-registry.ts';
import { createSourceChain } from './sources/chain.ts';
import { createPriceSource, instrumentPriceFeed, type PriceFeed, type PriceSourceName } from './sources/index.ts';
import { yahooConfigSchema, type YahooConfig } from './sources/yahoo.ts';

/** What a job reports through (the CLI's observability satisfies it): metrics, circuits, sources, /health dependencies. */
export interface JobObservability {
  readonly metrics: Metrics;
  circuit(upstream: string): CircuitListener;
  addDependency(name: string, ping: () => Promise<void>): void;
  addHealthSection(name: string, report: () => unknown): void;
}

/** What jobs are built from; with `kafka` and `serde` the price producer can read back what it published (a restart). */
export interface JobContext { config: Config; logger: Logger; publisher: Publisher; obs: JobObservability; kafka?: Kafka; serde?: Serde }

export interface Job {
  /** Runs until stop(), or until the job ends by itself (tick count, end of a file). */
  start(): Promise<void>;
  /** Stops after the tick or run in flight. */
  stop(): Promise<void>;
  /** One run, for the periodic jobs' --once. */
  runOnce?(): Promise<unknown>;
  /** Releases the job's own resources (sources, pools); the publisher is the caller's. */
  close(): Promise<void>;
}

const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

export interface PricesJobOptions {
  /** One source, or a chain of them in order of preference (default PRICE_SOURCE). */
  source?: PriceSourceName | readonly PriceSourceName[];
  symbols?: string[]; intervalSeconds?: number; file?: string; speed?: number; epochUnit?: 'ms' | 's'; timeZone?: string;
  seed?: number; bar?: PriceInterval; calendar?: CalendarName; yahooMode?: YahooConfig['mode']; count?: number; maxStalenessSeconds?: number;
}

/** The sources with a circuit breaker, reported under their name (gauge, /health). */
const CIRCUITED: readonly PriceSourceName[] = ['yahoo', 'alphavantage', 'twelvedata'];

/** The configuration of source `name` from the configuration and the command's options; `interval`: a chain's. */
function sourceConfigOf(name: PriceSourceName, config: Config, o: PricesJobOptions, interval?: PriceInterval): unknown {
  const live = defined({ mode: o.yahooMode });
  switch (name) {
    case 'synthetic':
      return { seed: o.seed ?? config.SYNTHETIC_SEED, calendar: o.calendar ?? config.SYNTHETIC_CALENDAR, ...defined({ interval: interval ?? o.bar }) };
    case 'yahoo': return live;
    case 'alphavantage':
      return { ...live, apiKey: config.ALPHAVANTAGE_API_KEY, baseUrl: config.ALPHAVANTAGE_BASE_URL,
        callsPerMinute: config.ALPHAVANTAGE_REQUESTS_PER_MINUTE, callsPerDay: config.ALPHAVANTAGE_REQUESTS_PER_DAY };
    case 'twelvedata':
      return { ...live, apiKey: config.TWELVEDATA_API_KEY, baseUrl: config.TWELVEDATA_BASE_URL,
        callsPerMinute: config.TWELVEDATA_CREDITS_PER_MINUTE, callsPerDay: config.TWELVEDATA_CREDITS_PER_DAY };
    case 'file': return { path: o.file, ...defined({ speed: o.speed, epochUnit: o.epochUnit, timeZone: o.timeZone }) };
  }
}

export function pricesJob({ config, logger, publisher, obs, kafka, serde }: JobContext, o: PricesJobOptions = {}): Job {
  const names: readonly PriceSourceName[] = o.source !== undefined ? [o.source].flat() : o.file ? ['file'] : config.PRICE_SOURCE;
  // A chain's members produce one series: the live providers' 1m bars (or ticks in quote mode), synthetic's alike.
  const chainInterval: PriceInterval | undefined = names.length > 1 ? (o.yahooMode === 'quote' ? 'tick' : '1m') : undefined;
  // Yahoo reports the bars an outage longer than its lookback cost (for `backfill --gaps`).
  const onGap = (gap: { interval: string; bars: number }) => obs.metrics.sourceGap('yahoo', gap.interval, gap.bars);
  const member = (name: PriceSourceName) => instrumentPriceFeed(createPriceSource(name, sourceConfigOf(name, config, o, chainInterval),
    { logger, ...(CIRCUITED.includes(name) ? { circuit: obs.circuit(name) } : {}), ...(name === 'yahoo' ? { onGap } : {}) }), obs.metrics);
  const chain = chainInterval === undefined ? undefined : createSourceChain(names.map(member), {
    interval: chainInterval, lookbackMs: defaultOf(yahooConfigSchema, 'lookbackMinutes') * 60_000,
  }, { logger, onSwitch: (from, to) => obs.metrics.sourceSwitch(from, to, names) });
  if (chain) obs.addHealthSection('sources', chain.status);
  const source: PriceFeed = chain ?? member(names[0]!);
  const onlyFile = names.every((n) => n === 'file');
  const paced = (o.speed ?? 0) > 0;
  const intervalSeconds = o.intervalSeconds ?? (onlyFile ? (paced ? 0.1 : 0) : config.PRICE_POLL_SECONDS);
  const producer = createPriceProducer({
    config, logger, publisher, source, symbols: o.symbols ?? (onlyFile ? [] : config.SYMBOLS),
    intervalMs: intervalSeconds * 1000, ...defined({ maxTicks: o.count, maxStalenessMs: stalenessMs(o.maxStalenessSeconds) }),
    ...(kafka && serde ? {
      lastPublished: (q: LastPublishedQuery) => lastPublishedBars({ kafka, serde, topic: priceUpdatesOf(config), groupPrefix: config.KAFKA_GROUP_PREFIX }, q),
    } : {}),
  });
  return { start: () => producer.start(), stop: () => producer.stop(), close: async () => { await source.close?.(); } };
}

/** --max-staleness in ms: 0 turns the check off (null); absent leaves the producer's default. */
const stalenessMs = (seconds: number | undefined) => (seconds === undefined ? undefined : seconds === 0 ? null : seconds * 1000);

export interface EventsJobOptions { source?: EventSourceName; file?: string; symbols?: string[]; intervalSeconds?: number; count?: number; newsCount?: number }

export function eventsJob({ config, logger, publisher, obs }: JobContext, o: EventsJobOptions = {}): Job {
  const name = o.source ?? (o.file ? 'file' : config.EVENT_SOURCE);
  const path = o.file ?? (config.EVENT_FILE || undefined);
  const sourceConfig = name === 'file' ? (path ? { path } : {}) : { newsPerSymbol: o.newsCount ?? config.EVENT_NEWS_PER_SYMBOL };
  const label = name === 'yahoo' ? 'yahoo-news' : 'events-file';
  const deps = { logger, ...(name === 'yahoo' ? { circuit: obs.circuit(label) } : {}) };
  const source = instrumentedSource(createEventSource(name, sourceConfig, deps), obs.metrics, label);
  const producer = createEventsProducer({
    config, logger, publisher, source, symbols: o.symbols ?? (name === 'file' ? [] : config.SYMBOLS),
    intervalMs: (o.intervalSeconds ?? (name === 'file' ? 0 : config.EVENT_POLL_SECONDS)) * 1000, ...defined({ maxTicks: o.count }),
  });
  return { start: () => producer.start(), stop: () => producer.stop(), close: async () => { await source.close?.(); } };
}

export interface GraphJobOptions { symbols?: string[]; profiles?: 'file' | 'yahoo'; profilesFile?: string; intervalMinutes?: number }

export function graphJob({ config, logger, publisher, obs }: JobContext, o: GraphJobOptions = {}): Job {
  const file = createFileProfileSource(o.profilesFile || config.GRAPH_PROFILES_FILE || SAMPLE_PROFILES_FILE);
  const fromYahoo = (o.profiles ?? config.GRAPH_PROFILE_SOURCE) === 'yahoo';
  const profiles = fromYahoo ? createYahooProfileSource({}, { logger, circuit: obs.circuit('yahoo-profiles') }) : file;
  // Claude spends from the budget shared in PostgreSQL by every process that calls it (./graph/competitor-finder.ts).
  const pool = config.ANTHROPIC_API_KEY ? createPgPool(config, { max: 2, applicationName: 'marketstream-graph' }) : undefined;
  if (pool) obs.addDependency('postgres', async () => { await pool.query('SELECT 1'); });
  const competitors = createCompetitorFinder({ config, logger, onCall: obs.metrics.claudeCall, ...defined({ pool }) });
  const producer = createGraphProducer({
    config, logger, publisher, profiles, competitors,
    ...(fromYahoo ? { peerProfiles: file } : {}),
    ...defined({ symbols: o.symbols, intervalMs: o.intervalMinutes === undefined ? undefined : o.intervalMinutes * 60_000 }),
  });
  return {
    start: () => producer.start(), stop: () => producer.stop(), runOnce: () => producer.runOnce(),
    close: async () => { await competitors.close(); await profiles.close?.(); await pool?.end(); },
  };
}

export interface CorrelationsJobOptions { symbols?: string[] | 'all'; windowDays?: number; threshold?: number; intervalMinutes?: number }

export function correlationsJob({ config, logger, publisher, obs }: JobContext, o: CorrelationsJobOptions = {}): Job {
  const pool = createPgPool(config, { max: 2, applicationName: 'marketstream-correlations' });
  obs.addDependency('postgres', async () => { await pool.query('SELECT 1'); });
  const analyzer = createCorrelationAnalyzer({
    config, logger, publisher, pool,
    ...defined({
      symbols: o.symbols, windowDays: o.windowDays, threshold: o.threshold,
      intervalMs: o.intervalMinutes === undefined ? undefined : o.intervalMinutes * 60_000,
    }),
  });
  return { start: () => analyzer.start(), stop: () => analyzer.stop(), runOnce: () => analyzer.runOnce(), close: () => pool.end() };
}

export interface JobEntry {
  /** The job's component name (logs, metrics). */
  readonly name: string;
  readonly description: string;
  /** The job with the configuration's defaults (what `run` starts). */
  create(ctx: JobContext): Job;
}

export const jobs = {
  prices: {
    name: 'price-producer', description: 'prices from PRICE_SOURCE (one source or a failover chain) every PRICE_POLL_SECONDS → price-updates',
    create: (ctx) => pricesJob(ctx),
  },
  events: { name: 'events-producer', description: 'news from EVENT_SOURCE every EVENT_POLL_SECONDS → market-events', create: (ctx) => eventsJob(ctx) },
  graph: { name: 'graph-producer', description: 'company profiles and competitors → graph-mutations', create: (ctx) => graphJob(ctx) },
  correlations: {
    name: 'correlation-analyzer', description: 'correlations of daily returns from PostgreSQL → graph-mutations', create: (ctx) => correlationsJob(ctx),
  },
} satisfies Record<string, JobEntry>;

export type JobName = keyof typeof jobs;
export const jobNames = Object.keys(jobs) as JobName[];
