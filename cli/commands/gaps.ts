// `marketstream gaps [--symbols A,B] [--interval 1d|1h|5m|1m] [--since <ISO date>] [--calendar us|24x7] [--json]`: the
// bars missing in PostgreSQL price_data against the exchange calendar, per symbol and interval, as windows of
// consecutive missing bars (ops/gaps). Exit 1 when a bar is missing, so a scheduled check can alert on it; 2 when
// PostgreSQL could not be read.
import { type Command, Option } from 'commander';
import { CALENDAR_NAMES, calendarOf, type CalendarName } from '../../lib/calendar.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { BAR_INTERVALS, type BarInterval, type GapWindow } from '../../ops/gaps/find.ts';
import { storedGaps, type GapsReport, type SeriesGaps } from '../../ops/gaps/store.ts';
import { loadContext } from '../context.ts';
import { table } from '../inspect/format.ts';
import { isoDateOrTime, symbolList } from '../options.ts';

interface GapsCliOptions { symbols?: string[]; interval?: BarInterval; since?: number; calendar?: CalendarName; json?: boolean }

/** Windows listed per series in the text output (--json lists every one). */
const WINDOWS_SHOWN = 20;

export function registerGaps(program: Command): void {
  program.command('gaps')
    .description('bars missing in price_data against the exchange calendar, per symbol and interval; exit 1 when one is')
    .option('--symbols <list>', 'comma-separated symbols (default: every symbol with bars stored)', symbolList)
    .addOption(new Option('--interval <interval>', 'bar interval (default: each one stored)').choices(BAR_INTERVALS))
    .option('--since <ISO date>', 'check from then (default: each series\' first bar; before it nothing is missing)', isoDateOrTime)
    .addOption(new Option('--calendar <name>', 'calendar to hold the bars against (default GAPS_CALENDAR)').choices(CALENDAR_NAMES))
    .option('--json', 'print the report as JSON (every window)')
    .action(async (opts: GapsCliOptions) => {
      const { config } = loadContext('gaps');
      const calendar = calendarOf(opts.calendar ?? config.GAPS_CALENDAR);
      const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-gaps' });
      try {
        const until = Date.now() - config.GAPS_GRACE_SECONDS * 1000;
        const report = await storedGaps(pool, {
          calendar, until, intervals: opts.interval ? [opts.interval] : BAR_INTERVALS,
          ...(opts.symbols ? { symbols: opts.symbols } : {}), ...(opts.since === undefined ? {} : { since: opts.since }),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(reportJson(report, calendar.name, until), null, 2)}\n`
          : formatReport(report, calendar.name, until, opts.interval !== undefined));
        if (report.series.some((s) => s.missing > 0)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`gaps failed: ${errorMessage(err)}\n`);
        process.exitCode = 2;
      } finally {
        await pool.end();
      }
    });
}

const iso = (t: number) => new Date(t).toISOString();
/** A bar's event time as the report shows it: the date of a 1d bar, the minute (UTC) of another. */
const barTime = (t: number, interval: BarInterval) => (interval === '1d' ? iso(t).slice(0, 10) : `${iso(t).slice(0, 16)}Z`);
const n = (x: number) => x.toLocaleString('en-US');

function reportJson(r: GapsReport, calendar: string, until: number) {
  return {
    calendar, until: iso(until),
    series: r.series.map((s) => ({
      ...s, since: iso(s.since), until: iso(s.until), windows: s.windows.map((w) => ({ first: iso(w.first), last: iso(w.last), bars: w.bars })),
    })),
    empty: r.empty,
  };
}

function formatReport(r: GapsReport, calendar: string, until: number, oneInterval: boolean): string {
  const out = [`bars missing against the ${calendar} calendar, of those ended by ${barTime(until, '1m')}:`];
  if (r.series.length) {
    out.push(...table(['symbol', 'interval', 'since', 'expected', 'stored', 'missing', 'windows'],
      r.series.map((s) => [s.symbol, s.interval, barTime(s.since, s.interval), n(s.expected), n(s.stored), n(s.missing), n(s.windows.length)]),
      new Set([3, 4, 5, 6])));
  } else out.push('  no bars stored for what was asked');
  for (const s of r.series.filter((x) => x.missing > 0)) out.push('', ...formatWindows(s));
  const off = r.series.filter((s) => s.offCalendar > 0);
  if (off.length) {
    out.push('', `stored bars at no bar start of the ${calendar} calendar (another calendar? GAPS_CALENDAR, --calendar): ` +
      off.map((s) => `${s.symbol} ${s.interval} ${n(s.offCalendar)}`).join(', '));
  }
  // Without --interval every interval is looked at: only a symbol with no bars at all is worth a line then.
  const some = new Set(r.series.map((x) => x.symbol));
  const empty = oneInterval ? r.empty.map((e) => `${e.symbol} ${e.interval}`) : [...new Set(r.empty.map((e) => e.symbol))].filter((x) => !some.has(x));
  for (const e of empty) out.push(`${e}: no bars stored (give --since to count from a date)`);
  return `${out.join('\n')}\n`;
}

function formatWindows(s: SeriesGaps): string[] {
  const shown: GapWindow[] = s.windows.slice(0, WINDOWS_SHOWN);
  const lines = [`${s.symbol} ${s.interval}: ${n(s.missing)} missing bar(s) in ${n(s.windows.length)} window(s)`,
    ...table(['first', 'last', 'bars'], shown.map((w) => [barTime(w.first, s.interval), barTime(w.last, s.interval), n(w.bars)]), new Set([2]))];
  if (s.windows.length > shown.length) lines.push(`  … ${n(s.windows.length - shown.length)} more (--json lists every one)`);
  return lines;
}
