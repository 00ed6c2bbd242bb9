// The market-event sources by name: what each is, its config schema and its factory. The CLI reads this to list,
// validate and build sources; nothing is constructed at import.
import type { z } from 'zod';
import { EVENT_FEEDS, type EventFeedName } from '../../topics/market-event.ts';
import { buildSource, type SourceDeps, type SourceEntry } from '../source-registry.ts';
import { createEventFileSource, eventFileConfigSchema } from './file.ts';
import type { EventSource } from './types.ts';
import { createYahooNewsSource, yahooNewsConfigSchema } from './yahoo-news.ts';

export type EventSourceDeps = SourceDeps;

function entry<S extends z.ZodType>(e: SourceEntry<S, EventSource>): SourceEntry<S, EventSource> { return e; }

export const eventSources = {
  file: entry({
    description: 'JSONL file of events (default: the bundled sample, offline)', configSchema: eventFileConfigSchema,
    create: (config) => createEventFileSource(config),
  }),
  yahoo: entry({
    description: 'Yahoo Finance news per symbol (rate-limited, retried, circuit breaker)', configSchema: yahooNewsConfigSchema,
    create: (config, deps) => createYahooNewsSource(config, deps),
  }),
} as const satisfies Record<EventFeedName, SourceEntry<z.ZodType, EventSource>>;

export type EventSourceName = EventFeedName;
export const eventSourceNames = EVENT_FEEDS;

/** Builds a source from untyped options (CLI flags, YAML); throws a ZodError naming the bad field. */
export function createEventSource(name: EventSourceName, config: unknown, deps: EventSourceDeps): EventSource {
  return buildSource<EventSource>(eventSources, name, config, deps);
}

export type { EventSource, RejectedInput } from './types.ts';
export { SAMPLE_EVENTS_FILE } from './file.ts';
