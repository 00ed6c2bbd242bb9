// What the price and the event source registries share: an entry (description, config schema, factory), the
// dependencies a source is built with, and building one from untyped options (CLI flags, YAML).
import type { z } from 'zod';
import { errorClass } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { CircuitListener } from '../lib/resilience.ts';

export interface SourceDeps {
  logger: Logger;
  /** HTTP client for sources that call out (yahoo, alphavantage, twelvedata). */
  fetch?: typeof fetch;
  /** Hears the source's circuit breaker (sources that have one), for the gauge and /health. */
  circuit?: CircuitListener;
  /** Hears the bars a live source missed beyond its lookback (yahoo), for the metric. */
  onGap?: (gap: { symbol: string; interval: string; bars: number }) => void;
}

export interface SourceEntry<S extends z.ZodType, T> {
  description: string;
  configSchema: S;
  create(config: z.input<S>, deps: SourceDeps): T;
}

/** The default a source's config schema gives one option, for help texts and callers that must not restate it. */
export function defaultOf<S extends z.ZodObject, K extends keyof S['shape'] & string>(schema: S, key: K): z.output<S['shape'][K]> {
  return (schema.shape[key] as z.ZodType).parse(undefined) as z.output<S['shape'][K]>;
}

/**
 * The source with its fetches counted by outcome (ok, empty, error) under `label`, and their errors under `component`
 * (default: the label). Every other member is the source's own.
 */
export function instrumentedSource<S extends { fetch(symbols: readonly string[], now: number): Promise<readonly unknown[]> }>(
  source: S, metrics: Metrics, label: string, component = label,
): S {
  const wrapped = Object.create(source) as S;
  Object.defineProperty(wrapped, 'fetch', {
    value: async (symbols: readonly string[], now: number) => {
      try {
        const items = await source.fetch(symbols, now);
        metrics.sourceFetch(label, items.length > 0 ? 'ok' : 'empty');
        return items;
      } catch (err) {
        metrics.sourceFetch(label, 'error');
        metrics.error(component, errorClass(err));
        throw err;
      }
    },
  });
  return wrapped;
}

/** Builds the named source; the config is parsed by its schema first (a ZodError names the bad field). */
export function buildSource<T>(registry: Record<string, SourceEntry<z.ZodType, T>>, name: string, config: unknown, deps: SourceDeps): T {
  const e = registry[name]!;
  return e.create(e.configSchema.parse(config), deps);
}
