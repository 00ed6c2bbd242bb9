// `marketstream produce events …`: run the events producer (news → market-events) until SIGINT/SIGTERM, --count
// ticks, or the end of a --file. The file source (default: the bundled sample) is the offline default.
import { type Command, Option } from 'commander';
import { createEventsProducer } from '../../producers/events-producer.ts';
import { errorClass } from '../../lib/errors.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { createEventSource, eventSourceNames, eventSources, type EventSource, type EventSourceName } from '../../producers/events/index.ts';
import { loadContext } from '../context.ts';
import { positiveInt, seconds, symbolList } from '../options.ts';
import { openPublishing, runUntilStopped } from '../producing.ts';
import { produceCommand } from './produce.ts';

interface EventsOptions {
  source?: EventSourceName;
  file?: string;
  symbols?: string[];
  interval?: number;
  count?: number;
  newsCount?: number;
}

/** Counts the source's fetches by outcome under `label` (yahoo-news, events-file), apart from the price sources. */
function instrumented(source: EventSource, label: string, metrics: Metrics): EventSource {
  const wrapped = Object.create(source) as EventSource;
  Object.defineProperty(wrapped, 'fetch', {
    value: async (symbols: readonly string[], now: number) => {
      try {
        const events = await source.fetch(symbols, now);
        metrics.sourceFetch(label, events.length > 0 ? 'ok' : 'empty');
        return events;
      } catch (err) {
        metrics.sourceFetch(label, 'error');
        metrics.error(label, errorClass(err));
        throw err;
      }
    },
  });
  return wrapped;
}

export function registerProduceEvents(program: Command): void {
  produceCommand(program).command('events')
    .description(`fetch market events (news) every interval, drop duplicates, validate and publish to market-events (invalid ones to market-events.dlq).\nSources:\n${eventSourceNames.map((n) => `  ${n}: ${eventSources[n].description}`).join('\n')}`)
    .addOption(new Option('--source <name>', 'event source (default EVENT_SOURCE)').choices(eventSourceNames))
    .option('--file <path>', 'JSONL file of events (source file; default EVENT_FILE, else the bundled sample)')
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS; for file: every event in the file)', symbolList)
    .option('--interval <seconds>', 'seconds between fetches (default EVENT_POLL_SECONDS; for file 0)', seconds)
    .option('--count <n>', 'stop after N ticks', positiveInt)
    .option('--news-count <n>', 'yahoo: articles per symbol and fetch (default EVENT_NEWS_PER_SYMBOL)', positiveInt)
    .action(async (opts: EventsOptions) => {
      const { config, logger } = loadContext('events-producer');
      const name = opts.source ?? (opts.file ? 'file' : config.EVENT_SOURCE);
      const path = opts.file ?? (config.EVENT_FILE || undefined);
      const sourceConfig = name === 'file' ? (path ? { path } : {}) : { newsPerSymbol: opts.newsCount ?? config.EVENT_NEWS_PER_SYMBOL };
      const symbols = opts.symbols ?? (name === 'file' ? [] : config.SYMBOLS);
      const intervalSeconds = opts.interval ?? (name === 'file' ? 0 : config.EVENT_POLL_SECONDS);

      const label = name === 'yahoo' ? 'yahoo-news' : 'events-file';
      const { obs, publisher } = await openPublishing({ config, logger, command: 'produce events', clientId: 'events-producer' });
      const source = instrumented(createEventSource(name, sourceConfig, { logger, ...(name === 'yahoo' ? { onCircuitStateChange: obs.circuit(label) } : {}) }), label, obs.metrics);
      const producer = createEventsProducer({
        config, logger, publisher, source, symbols,
        intervalMs: intervalSeconds * 1000,
        ...(opts.count !== undefined ? { maxTicks: opts.count } : {}),
      });
      await runUntilStopped({ logger, obs, publisher, job: producer, close: async () => source.close?.() });
    });
}
