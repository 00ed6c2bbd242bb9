// The price sources by name: what each is, its config schema and its factory. The CLI reads this to list, validate
// and build sources; nothing is constructed at import.
import type { z } from 'zod';
import { PRICE_FEEDS, type PriceFeedName } from '../../topics/price-update.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { buildSource, instrumentedSource, type SourceDeps, type SourceEntry } from '../source-registry.ts';
import { alphaVantageConfigSchema, createAlphaVantageSource } from './alphavantage.ts';
import { createFileSource, fileConfigSchema } from './file.ts';
import { createSyntheticSource, syntheticConfigSchema } from './synthetic.ts';
import { createTwelveDataSource, twelveDataConfigSchema } from './twelvedata.ts';
import type { PriceFeed } from './types.ts';
import { createYahooSource, yahooConfigSchema } from './yahoo.ts';

export type { SourceDeps } from '../source-registry.ts';

function entry<S extends z.ZodType>(e: SourceEntry<S, PriceFeed>): SourceEntry<S, PriceFeed> { return e; }

export const priceSources = {
  synthetic: entry({
    description: 'seeded, correlated random walk on the exchange calendar (offline, deterministic)', configSchema: syntheticConfigSchema,
    create: (config) => createSyntheticSource(config),
  }),
  yahoo: entry({
    description: 'Yahoo Finance intraday bars or quotes (rate-limited, retried, circuit breaker)', configSchema: yahooConfigSchema,
    create: (config, deps) => createYahooSource(config, deps),
  }),
  alphavantage: entry({
    description: 'Alpha Vantage intraday bars or quotes (ALPHAVANTAGE_API_KEY; free tier 5 requests/min, 25/day)', configSchema: alphaVantageConfigSchema,
    create: (config, deps) => createAlphaVantageSource(config, deps),
  }),
  twelvedata: entry({
    description: 'Twelve Data intraday bars or quotes (TWELVEDATA_API_KEY; Basic plan 8 credits/min, 800/day)', configSchema: twelveDataConfigSchema,
    create: (config, deps) => createTwelveDataSource(config, deps),
  }),
  file: entry({ description: 'CSV or JSONL bars replayed at a chosen speed', configSchema: fileConfigSchema, create: (config) => createFileSource(config) }),
} as const satisfies Record<PriceFeedName, SourceEntry<z.ZodType, PriceFeed>>;

export type PriceSourceName = PriceFeedName;
export const priceSourceNames = PRICE_FEEDS;

/** Builds a source from untyped options (CLI flags, YAML); throws a ZodError naming the bad field. */
export function createPriceSource(name: PriceSourceName, config: unknown, deps: SourceDeps): PriceFeed {
  return buildSource<PriceFeed>(priceSources, name, config, deps);
}

/** A price source counted by fetch outcome under its name (source_fetches), its errors under `<name>-source`. */
export function instrumentPriceFeed<S extends PriceFeed>(source: S, metrics: Metrics): S {
  return instrumentedSource(source, metrics, source.name, `${source.name}-source`);
}

export type { PriceFeed, RejectedInput, HistoryRange } from './types.ts';
