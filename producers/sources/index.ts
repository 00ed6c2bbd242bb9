// The price sources by name: what each is, its config schema and its factory. The CLI reads this to list, validate
// and build sources; nothing is constructed at import.
import type { z } from 'zod';
import type { Logger } from '../../lib/logger.ts';
import type { CircuitState } from '../../lib/resilience.ts';
import { createFileSource, fileConfigSchema } from './file.ts';
import { createSyntheticSource, syntheticConfigSchema } from './synthetic.ts';
import type { PriceFeed } from './types.ts';
import { createYahooSource, yahooConfigSchema } from './yahoo.ts';

export interface SourceDeps {
  logger: Logger;
  /** HTTP client for sources that call out (yahoo). */
  fetch?: typeof fetch;
  onCircuitStateChange?: (state: CircuitState) => void;
}

interface SourceEntry<S extends z.ZodType> {
  description: string;
  configSchema: S;
  create(config: z.input<S>, deps: SourceDeps): PriceFeed;
}

function entry<S extends z.ZodType>(e: SourceEntry<S>): SourceEntry<S> { return e; }

export const priceSources = {
  synthetic: entry({
    description: 'seeded, correlated random walk (offline, deterministic)',
    configSchema: syntheticConfigSchema,
    create: (config) => createSyntheticSource(config),
  }),
  yahoo: entry({
    description: 'Yahoo Finance intraday bars or quotes (rate-limited, retried, circuit breaker)',
    configSchema: yahooConfigSchema,
    create: (config, deps) => createYahooSource(config, deps),
  }),
  file: entry({
    description: 'CSV or JSONL bars replayed at a chosen speed',
    configSchema: fileConfigSchema,
    create: (config) => createFileSource(config),
  }),
} as const;

export type PriceSourceName = keyof typeof priceSources;
export const priceSourceNames = Object.keys(priceSources) as PriceSourceName[];

/** Builds a source from untyped options (CLI flags, YAML); throws a ZodError naming the bad field. */
export function createPriceSource(name: PriceSourceName, config: unknown, deps: SourceDeps): PriceFeed {
  const e = priceSources[name] as SourceEntry<z.ZodType>;
  return e.create(e.configSchema.parse(config), deps);
}

export type { PriceFeed, RejectedInput, HistoryRange } from './types.ts';
