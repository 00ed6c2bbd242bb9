// `marketstream backfill (--symbols A,B | --tickers-file f) (--range 1Y | --days N) --interval 1d|1h|1m --parallel N
// --source yahoo|synthetic|file [--file path]`: publish historical bars to price-updates with source `backfill`.
// `--gaps` asks the source only for the bars `gaps` finds missing in price_data (ops/gaps), from --since, --range,
// --days or each series' first bar, for the symbols given or every symbol stored.
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { calendarOf } from '../../lib/calendar.ts';
import type { Config } from '../../lib/config.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import type { Logger } from '../../lib/logger.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { HISTORY_FEEDS } from '../../topics/price-update.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { backfill, createHistorySource, parseTickers } from '../../ops/backfill.ts';
import {
  BACKFILL_INTERVALS, BACKFILL_RANGES, backfillWindow, type BackfillInterval, type BackfillRange, type HistorySourceName, type Window,
} from '../../ops/backfill-range.ts';
import { planGapFill, type GapFill } from '../../ops/gaps/fill.ts';
import { storedGaps } from '../../ops/gaps/store.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdatesOf } from '../../topics/index.ts';
import { loadContext } from '../context.ts';
import { progressBar } from '../progress.ts';
import { integer, isoDateOrTime, positiveInt, symbolList, timeZone } from '../options.ts';

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
  gaps?: boolean;
  since?: number;
}

export function registerBackfill(program: Command): void {
  program.command('backfill')
    .description('publish historical bars to price-updates (source backfill); running it again creates no duplicates downstream')
    .option('--symbols <list>', 'comma-separated symbols', symbolList)
    .option('--tickers-file <path>', 'file of symbols, one per line or comma-separated (# comments allowed)')
    .addOption(new Option('--range <range>', 'how far back (MAX: synthetic 1d from 2000-01-01; hourly bars at most 729 days)').choices(BACKFILL_RANGES))
    .option('--days <n>', 'how many days back (instead of --range)', positiveInt)
    .addOption(new Option('--interval <interval>', 'bar interval (1m: the last 29 days)').choices(BACKFILL_INTERVALS).default('1d'))
    .option('--parallel <n>', 'symbols fetched and published at once', positiveInt, 4)
    .addOption(new Option('--source <name>', 'where the history comes from').choices(HISTORY_FEEDS).default('synthetic'))
    .option('--file <path>', 'CSV or JSONL bars (source file)')
    .addOption(new Option('--epoch-unit <unit>', 'file: unit of numeric times (a number in the other unit\'s range is refused)')
      .choices(['ms', 's']).default('ms'))
    .option('--time-zone <zone>', 'file: IANA time zone of ISO times without Z or an offset (without it such rows are refused)', timeZone)
    .option('--seed <n>', 'synthetic seed (default SYNTHETIC_SEED)', integer(0))
    .option('--gaps', 'only the bars missing in price_data against the calendar (see `gaps`); without symbols, of every symbol stored')
    .option('--since <ISO date>', '--gaps: look for missing bars from then (default: each series\' first bar)', isoDateOrTime)
    .option('--json', 'print the result as JSON')
    .action(async (opts: BackfillCliOptions, cmd: Command) => {
      const bounds = [opts.range, opts.days, opts.since].filter((x) => x !== undefined).length;
      if (opts.gaps && bounds > 1) cmd.error('error: --gaps takes at most one of --range, --days or --since');
      if (!opts.gaps && opts.since !== undefined) cmd.error('error: --since goes with --gaps (a plain backfill takes --range or --days)');
      if (!opts.gaps && (opts.range === undefined) === (opts.days === undefined)) cmd.error('error: give one of --range or --days');
      if (opts.source === 'file' && !opts.file) cmd.error('error: --source file needs --file <path>');
      if (!opts.gaps && opts.source !== 'file' && !opts.symbols && !opts.tickersFile) cmd.error('error: give --symbols or --tickers-file');
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
        const now = Date.now();
        const ranged = opts.range !== undefined || opts.days !== undefined;
        let window: Window | null = ranged
          ? backfillWindow(opts.range ? { range: opts.range } : { days: opts.days! }, { now, interval: opts.interval, source: opts.source }) : null;
        if (window?.clamped) logger.warn({ from: new Date(window.from).toISOString() }, window.clamped);
        let plan: GapFill | null = null;
        if (opts.gaps) {
          plan = await missingSpans(config, logger, { symbols, interval: opts.interval, source: opts.source, since: opts.since ?? window?.from, now });
          symbols.splice(0, symbols.length, ...plan.spans.keys());
          const spans = [...plan.spans.values()].flat();
          window = { from: spans.reduce((t, x) => Math.min(t, x.from), now), to: spans.reduce((t, x) => Math.max(t, x.to), 0) };
        }
        const { from, to } = window!;
        logger.info({
          symbols: symbols.length, from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval: opts.interval, source: opts.source,
          ...(plan ? { windows: plan.windows, missing: plan.missing } : {}),
        }, 'backfill starting');
        if (plan && plan.windows === 0) {
          if (opts.json) process.stdout.write(`${JSON.stringify({ gaps: gapsJson(plan), published: 0, symbols: 0, failed: 0 }, null, 2)}\n`);
          else process.stdout.write(`no missing ${opts.interval} bars${plan.unreachable ? ' the source can serve' : ''}: nothing to fetch\n`);
          return;
        }
        await ensureTopics(kafka, config, [priceUpdatesOf(config)]);
        await publisher.connect();
        const started = Date.now();
        const result = await backfill({
          config, logger, publisher, source, symbols, from, to, interval: opts.interval, parallel: opts.parallel, ...(plan ? { spans: plan.spans } : {}),
          onProgress: (p) => bar.update(p.symbolsDone, p.symbols, Math.round(p.published / Math.max(0.001, (Date.now() - started) / 1000)),
            `${p.published.toLocaleString('en-US')} bars`),
        });
        bar.stop();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({
            ...result, from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...(plan ? { gaps: gapsJson(plan) } : {}),
          }, null, 2)}\n`);
        } else {
          const what = plan
            ? `${plan.missing.toLocaleString('en-US')} missing bar(s) in ${plan.windows} window(s)`
            : `${new Date(from).toISOString().slice(0, 10)} → ${new Date(to).toISOString().slice(0, 10)}`;
          process.stdout.write(`backfilled ${result.symbolsDone - result.failed}/${result.symbols} symbols, ${what} (${opts.interval}): ` +
            `${result.published.toLocaleString('en-US')} bars published, ${result.invalid} dead-lettered, in ${(result.ms / 1000).toFixed(1)} s\n`);
          for (const f of result.failures) process.stdout.write(`  failed ${f.symbol}: ${f.error}\n`);
          if (plan) process.stdout.write('  `marketstream gaps` tells what is still missing once the sinks have caught up\n');
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

/** The spans of missing bars to fetch, from price_data (ops/gaps); logs what lies beyond the source's reach. */
async function missingSpans(config: Config, logger: Logger,
  o: { symbols: string[]; interval: BackfillInterval; source: HistorySourceName; since: number | undefined; now: number }): Promise<GapFill> {
  const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-backfill' });
  try {
    const calendar = calendarOf(config.GAPS_CALENDAR);
    const report = await storedGaps(pool, {
      calendar, intervals: [o.interval], until: o.now - config.GAPS_GRACE_SECONDS * 1000,
      ...(o.symbols.length ? { symbols: o.symbols } : {}), ...(o.since === undefined ? {} : { since: o.since }),
    });
    for (const e of report.empty) logger.warn({ symbol: e.symbol, interval: e.interval }, 'no bars stored and no --since: nothing to compare; skipped');
    const plan = planGapFill(report.series, { calendar, interval: o.interval, source: o.source, now: o.now });
    if (plan.unreachable) logger.warn({ bars: plan.unreachable.bars }, `missing bars left out: ${plan.unreachable.why}`);
    return plan;
  } finally {
    await pool.end();
  }
}

const gapsJson = (plan: GapFill) => ({
  windows: plan.windows, missing: plan.missing, unreachable: plan.unreachable,
  spans: Object.fromEntries([...plan.spans].map(([s, xs]) => [s, xs.map((x) => ({ from: new Date(x.from).toISOString(), to: new Date(x.to).toISOString() }))])),
});
