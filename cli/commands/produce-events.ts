// `marketstream produce events …`: run the events producer (news → market-events) until SIGINT/SIGTERM, --count
// ticks, or the end of a --file. The file source (default: the bundled sample) is the offline default.
import { type Command, Option } from 'commander';
import { eventSourceNames, eventSources, type EventSourceName } from '../../producers/events/index.ts';
import { loadContext } from '../context.ts';
import { eventsJob } from '../../producers/catalog.ts';
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

export function registerProduceEvents(program: Command): void {
  produceCommand(program).command('events')
    .description('fetch market events (news) every interval, drop duplicates, validate and publish to market-events (invalid ones to market-events.dlq).\n' +
      `Sources:\n${eventSourceNames.map((n) => `  ${n}: ${eventSources[n].description}`).join('\n')}`)
    .addOption(new Option('--source <name>', 'event source (default EVENT_SOURCE)').choices(eventSourceNames))
    .option('--file <path>', 'JSONL file of events (source file; default EVENT_FILE, else the bundled sample)')
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS; for file: every event in the file)', symbolList)
    .option('--interval <seconds>', 'seconds between fetches (default EVENT_POLL_SECONDS; for file 0)', seconds)
    .option('--count <n>', 'stop after N ticks', positiveInt)
    .option('--news-count <n>', 'yahoo: articles per symbol and fetch (default EVENT_NEWS_PER_SYMBOL)', positiveInt)
    .action(async (opts: EventsOptions) => {
      const { config, logger } = loadContext('events-producer');
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'produce events', clientId: 'events-producer' })) };
      const job = eventsJob(ctx, {
        source: opts.source, file: opts.file, symbols: opts.symbols, intervalSeconds: opts.interval, count: opts.count, newsCount: opts.newsCount,
      });
      await runUntilStopped({ ...ctx, job });
    });
}
