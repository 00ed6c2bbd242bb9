// `marketstream produce prices …`: run the price producer until SIGINT/SIGTERM (or --count ticks, or the end of a
// --file). `produce` is a parent command: events, graph and correlations attach to it via produceCommand(program).
import { type Command, Option } from 'commander';
import { CALENDAR_NAMES, type CalendarName } from '../../lib/calendar.ts';
import { PRICE_INTERVALS, type PriceInterval } from '../../topics/price-update.ts';
import { DEFAULT_MAX_STALENESS_MS } from '../../producers/price-producer.ts';
import { defaultOf } from '../../producers/source-registry.ts';
import { fileConfigSchema } from '../../producers/sources/file.ts';
import { priceSourceNames, priceSources, type PriceSourceName } from '../../producers/sources/index.ts';
import { syntheticConfigSchema } from '../../producers/sources/synthetic.ts';
import { type YahooConfig, yahooConfigSchema } from '../../producers/sources/yahoo.ts';
import { loadContext } from '../context.ts';
import { pricesJob } from '../../producers/catalog.ts';
import { integer, number, priceSourceList, seconds, symbolList, timeZone } from '../options.ts';
import { openPublishing, runUntilStopped } from '../producing.ts';

interface PricesOptions {
  source?: PriceSourceName[];
  symbols?: string[];
  interval?: number;
  file?: string;
  speed: number;
  epochUnit: 'ms' | 's';
  timeZone?: string;
  seed?: number;
  calendar?: CalendarName;
  bar: PriceInterval;
  yahooMode: YahooConfig['mode'];
  count?: number;
  maxStaleness: number;
}

/** The `produce` parent command, created on first use; subcommands attach to it. */
export function produceCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'produce')
    ?? program.command('produce').description('run a producer: publishes to Kafka until stopped');
}

export function registerProduce(program: Command): void {
  produceCommand(program).command('prices')
    .description('fetch prices every interval, validate them and publish to price-updates (invalid ones to price-updates.dlq).\n' +
      `Sources:\n${priceSourceNames.map((n) => `  ${n}: ${priceSources[n].description}`).join('\n')}`)
    .option('--source <names>', `price source, or a failover chain of them in order of preference, e.g. yahoo,alphavantage,twelvedata (default PRICE_SOURCE; ` +
      `${priceSourceNames.join(', ')})`, priceSourceList)
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS; for --file: all symbols in the file)', symbolList)
    .option('--interval <seconds>', 'seconds between fetches (default PRICE_POLL_SECONDS; for --file 0.1, or 0 at full speed)', seconds)
    .option('--file <path>', 'CSV or JSONL file of bars (source file)')
    .option('--speed <n>', 'file replay speed: N × real time, 0 = as fast as possible', number(0, 'a number >= 0'), defaultOf(fileConfigSchema, 'speed'))
    .addOption(new Option('--epoch-unit <unit>', 'file: unit of numeric times (a number in the other unit\'s range is refused)')
      .choices(fileConfigSchema.shape.epochUnit.unwrap().options).default(defaultOf(fileConfigSchema, 'epochUnit')))
    .option('--time-zone <zone>', 'file: IANA time zone of ISO times without Z or an offset (without it such rows are refused)', timeZone)
    .option('--seed <n>', 'synthetic seed (default SYNTHETIC_SEED)', integer(0))
    .addOption(new Option('--bar <interval>', 'synthetic bar interval').choices(PRICE_INTERVALS).default(defaultOf(syntheticConfigSchema, 'interval')))
    .addOption(new Option('--calendar <name>', 'synthetic: us = exchange sessions only, 24x7 = never closes (default SYNTHETIC_CALENDAR)')
      .choices(CALENDAR_NAMES))
    .addOption(new Option('--yahoo-mode <mode>', 'yahoo, alphavantage, twelvedata: completed intraday bars or quotes')
      .choices(yahooConfigSchema.shape.mode.unwrap().options).default(defaultOf(yahooConfigSchema, 'mode')))
    .option('--count <n>', 'stop after N ticks', integer(1))
    .option('--max-staleness <seconds>', 'dead-letter live bars later than one interval plus this; 0 = no check', seconds, DEFAULT_MAX_STALENESS_MS / 1000)
    .action(async (opts: PricesOptions, cmd: Command) => {
      const { config, logger } = loadContext('price-producer');
      if ((opts.source ?? (opts.file ? ['file'] : config.PRICE_SOURCE)).includes('file') && !opts.file) cmd.error('error: --source file needs --file <path>');
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'produce prices', clientId: 'price-producer' })) };
      const job = pricesJob(ctx, {
        source: opts.source, symbols: opts.symbols, intervalSeconds: opts.interval, file: opts.file, speed: opts.speed, seed: opts.seed,
        epochUnit: opts.epochUnit, timeZone: opts.timeZone,
        bar: opts.bar, calendar: opts.calendar, yahooMode: opts.yahooMode, count: opts.count, maxStalenessSeconds: opts.maxStaleness,
      });
      await runUntilStopped({ ...ctx, job });
    });
}
