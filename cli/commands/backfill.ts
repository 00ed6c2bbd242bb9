// `marketstream backfill (--symbols A,B | --tickers-file f) (--range 1Y | --days N) --interval 1d|1h --parallel N
// --source yahoo|synthetic|file [--file path]`: publish historical bars to price-updates with source `backfill`.
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { errorMessage } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { HISTORY_FEEDS } from '../../topics/price-update.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { backfill, createHistorySource, parseTickers } from '../../ops/backfill.ts';
import { BACKFILL_RANGES, backfillWindow, type BackfillInterval, type BackfillRange, type HistorySourceName } from '../../ops/backfill-range.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdatesOf } from '../../topics/index.ts';
import { loadContext } from '../context.ts';
import { progressBar } from '../progress.ts';
import { integer, positiveInt, symbolList, timeZone } from '../options.ts';

interface BackfillCliOptions {
  symbols?: string[];
  tickersFile?: string;
  range?: BackfillRange;
  days?: number;
  interval: BackfillInterval;
  parallel: number;
  source: HistorySourceName;
  file?: string;
  epochUnit: 'ms' | 's';
  timeZone?: string;
  seed?: number;
  json?: boolean;
}

export function registerBackfill(program: Command): void {
  program.command('backfill')
    .description('publish historical bars to price-updates (source backfill); running it again creates no duplicates downstream')
    .option('--symbols <list>', 'comma-separated symbols', symbolList)
    .option('--tickers-file <path>', 'file of symbols, one per line or comma-separated (# comments allowed)')
    .addOption(new Option('--range <range>', 'how far back (MAX: synthetic 1d from 2000-01-01; hourly bars at most 729 days)').choices(BACKFILL_RANGES))
    .option('--days <n>', 'how many days back (instead of --range)', positiveInt)
    .addOption(new Option('--interval <interval>', 'bar interval').choices(['1d', '1h']).default('1d'))
    .option('--parallel <n>', 'symbols fetched and published at once', positiveInt, 4)
    .addOption(new Option('--source <name>', 'where the history comes from').choices(HISTORY_FEEDS).default('synthetic'))
    .option('--file <path>', 'CSV or JSONL bars (source file)')
    .addOption(new Option('--epoch-unit <unit>', 'file: unit of numeric times (a number in the other unit\'s range is refused)')
      .choices(['ms', 's']).default('ms'))
    .option('--time-zone <zone>', 'file: IANA time zone of ISO times without Z or an offset (without it such rows are refused)', timeZone)
    .option('--seed <n>', 'synthetic seed (default SYNTHETIC_SEED)', integer(0))
    .option('--json', 'print the result as JSON')
    .action(async (opts: BackfillCliOptions, cmd: Command) => {
      if ((opts.range === undefined) === (opts.days === undefined)) cmd.error('error: give one of --range or --days');
      if (opts.source === 'file' && !opts.file) cmd.error('error: --source file needs --file <path>');
      if (opts.source !== 'file' && !opts.symbols && !opts.tickersFile) cmd.error('error: give --symbols or --tickers-file');
      const { config, logger } = loadContext('backfill');
      const source = createHistorySource(opts.source, {
        config, logger, file: opts.file, seed: opts.seed, fileTimes: { epochUnit: opts.epochUnit, ...(opts.timeZone ? { timeZone: opts.timeZone } : {}) },
      });
      const kafka = createKafka(config, logger, 'backfill');
      const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
      const bar = progressBar('symbols');
      try {
        const fromFile = opts.tickersFile ? parseTickers(await readFile(opts.tickersFile, 'utf8')) : [];
        const symbols = [...new Set([...(opts.symbols ?? []), ...fromFile])];
        if (!symbols.length && source.symbols) symbols.push(...(await source.symbols()));
        const bad = symbols.filter((s) => !SYMBOL_PATTERN.test(s));
        if (bad.length) throw new InvalidArgumentError(`not ticker symbols: ${bad.join(', ')}`);
        const window = backfillWindow(opts.range ? { range: opts.range } : { days: opts.days! },
          { now: Date.now(), interval: opts.interval, source: opts.source });
        if (window.clamped) logger.warn({ from: new Date(window.from).toISOString() }, window.clamped);
        logger.info({
          symbols: symbols.length, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(),
          interval: opts.interval, source: opts.source,
        }, 'backfill starting');
        await ensureTopics(kafka, config, [priceUpdatesOf(config)]);
        await publisher.connect();
        const started = Date.now();
        const result = await backfill({
          config, logger, publisher, source, symbols, from: window.from, to: window.to, interval: opts.interval, parallel: opts.parallel,
          onProgress: (p) => bar.update(p.symbolsDone, p.symbols, Math.round(p.published / Math.max(0.001, (Date.now() - started) / 1000)),
            `${p.published.toLocaleString('en-US')} bars`),
        });
        bar.stop();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...result, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() }, null, 2)}\n`);
        } else {
          const days = `${new Date(window.from).toISOString().slice(0, 10)} → ${new Date(window.to).toISOString().slice(0, 10)}`;
          process.stdout.write(`backfilled ${result.symbolsDone - result.failed}/${result.symbols} symbols, ${days} (${opts.interval}): ` +
            `${result.published.toLocaleString('en-US')} bars published, ${result.invalid} dead-lettered, in ${(result.ms / 1000).toFixed(1)} s\n`);
          for (const f of result.failures) process.stdout.write(`  failed ${f.symbol}: ${f.error}\n`);
        }
        if (result.failed) process.exitCode = 1;
      } catch (err) {
        bar.stop();
        process.stderr.write(`backfill failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        await source.close?.();
        await publisher.disconnect();
      }
    });
}
