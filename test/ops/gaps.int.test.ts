// `gaps` and `backfill --gaps` against the real stack, through the CLI, with a `consume postgres` process as the sink
// (on its own price-updates topic and group) exporting the missing-bars gauge: a backfilled year of a symbol holds
// exactly the calendar's sessions (its holidays absent, its half days present) and `gaps` reports none; a removed daily
// bar, and two hourly bars either side of a night, are reported (one window each), counted by the gauge, and refilled by
// `backfill --gaps`, which asks the source for nothing else.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { US_CALENDAR, usEarlyCloses, usHolidays } from '../../lib/calendar.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { priceFeatures, priceUpdates, withName } from '../../topics/index.ts';
import { startCli, type CliProcess } from '../cli/cli-process.ts';
import { deleteTestTopics, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';
import { sample, scrape } from '../helpers/metrics.ts';

const execFileP = promisify(execFile);
const symbol = randomSymbol();
const prices = withName(priceUpdates, randomName('test-gaps-prices'));
const features = withName(priceFeatures, randomName('test-gaps-features'));
const env = {
  KAFKA_GROUP_PREFIX: randomName('test-gaps'), PRICE_UPDATES_TOPIC: prices.name, PRICE_FEATURES_TOPIC: features.name, TOPIC_PARTITIONS: '3',
  SYMBOLS: symbol, GAPS_REFRESH_SECONDS: '0.5', GAPS_LOOKBACK_DAYS: '400', LOG_LEVEL: 'error', LOG_FORMAT: 'json',
};
const config = testConfig(env);
const logger = testLogger('gaps-test');
const pool = createPgPool(config, { max: 2 });

interface Window { first: string; last: string; bars: number }
interface Series { symbol: string; interval: string; expected: number; stored: number; missing: number; offCalendar: number; windows: Window[] }

/** The CLI with the test's environment; a non-zero exit is a result here (`gaps` exits 1 when a bar is missing). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const r = await execFileP(process.execPath, ['bin/marketstream.js', ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '' };
  }
}

async function gaps(interval: string): Promise<{ code: number; series: Series }> {
  const r = await cli('gaps', '--symbols', symbol, '--interval', interval, '--json');
  const report = JSON.parse(r.stdout) as { series: Series[] };
  expect(report.series).toHaveLength(1);
  return { code: r.code, series: report.series[0]! };
}

interface Row { t: number; open: number; high: number; low: number; close: number; volume: number; source: string }
const rows = async (interval: string) => (await pool.query<Row>(
  `SELECT (extract(epoch FROM ts) * 1000)::float8 AS t, open, high, low, close, volume, source FROM price_data
   WHERE symbol = $1 AND interval = $2 ORDER BY ts`, [symbol, interval])).rows;

const day = (t: number) => new Date(t).toISOString().slice(0, 10);

describe('gaps and backfill --gaps', () => {
  let sink: CliProcess;
  let metricsUrl: string;
  const gauge = async (interval: string) => sample(await scrape(metricsUrl), 'marketstream_price_missing_bars', { symbol, interval });
  const stored = (interval: string, n: number) =>
    waitFor(async () => (await rows(interval)).length === n, { what: `${n} ${interval} bars of ${symbol} in price_data`, timeoutMs: 60_000 });

  beforeAll(async () => {
    sink = startCli(['consume', 'postgres'], { ...env, LOG_LEVEL: 'info' }); // info: the health server's URL is logged
    metricsUrl = await sink.url();
  });

  afterAll(async () => {
    sink?.child.kill('SIGTERM');
    const exit = await sink?.exited;
    await pool.query('DELETE FROM price_data WHERE symbol = $1', [symbol]);
    await pool.end();
    const kafka = createKafka(config, logger, 'gaps-test');
    await deleteTestTopics(kafka, [prices.name, prices.dlq, features.name, features.dlq]);
    expect(exit?.code).toBe(0); // the gauge stopped with the sink, gracefully
  });

  it('a backfilled year has exactly the sessions of the calendar and no gap; a removed bar is reported, counted and refilled', async () => {
    const first = await cli('backfill', '--symbols', symbol, '--range', '1Y', '--interval', '1d', '--source', 'synthetic', '--json');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout) as { published: number; from: string; to: string };
    await stored('1d', result.published);

    // Exactly the calendar's sessions of the window, each once.
    const from = Date.parse(result.from), to = Date.parse(result.to);
    const sessions = US_CALENDAR.bars('1d', from, to).filter((b) => b.end <= to).map((b) => b.eventTime);
    const before = await rows('1d');
    expect(before.map((r) => r.t)).toEqual(sessions);
    expect(sessions.length).toBeGreaterThanOrEqual(248);
    // Holidays of the window absent (at least two: a year holds nine or ten), half days present (at least one).
    const years = [...new Set([new Date(from).getUTCFullYear(), new Date(to).getUTCFullYear()])];
    const inWindow = (d: string) => Date.parse(d) >= from && Date.parse(d) + 86_400_000 <= to;
    const holidays = years.flatMap((y) => [...usHolidays(y).keys()]).filter(inWindow);
    const halfDays = years.flatMap((y) => [...usEarlyCloses(y).keys()]).filter(inWindow);
    expect(holidays.length).toBeGreaterThanOrEqual(2);
    expect(halfDays.length).toBeGreaterThanOrEqual(1);
    const days = new Set(before.map((r) => day(r.t)));
    expect(holidays.filter((d) => days.has(d))).toEqual([]);
    expect(halfDays.filter((d) => !days.has(d))).toEqual([]);

    // (`gaps` expects the bars that ended GAPS_GRACE_SECONDS ago: a session that closed in the last minutes is stored, not yet expected.)
    const clean = await gaps('1d');
    expect(clean.code).toBe(0);
    expect(clean.series).toMatchObject({ missing: 0, offCalendar: 0, windows: [] });
    expect(clean.series.expected).toBeGreaterThanOrEqual(sessions.length - 1);
    await waitFor(async () => (await gauge('1d')) === 0, { what: 'the gauge at 0 missing daily bars', timeoutMs: 30_000 });

    // One bar removed: the session before a holiday.
    const holiday = holidays.find((h) => day(before[0]!.t) < h)!;
    const removed = before.filter((r) => day(r.t) < holiday).at(-1)!;
    await pool.query(`DELETE FROM price_data WHERE symbol = $1 AND interval = '1d' AND ts = to_timestamp($2 / 1000.0)`, [symbol, removed.t]);
    const holed = await gaps('1d');
    expect(holed.code).toBe(1);
    expect(holed.series).toMatchObject({ expected: clean.series.expected, stored: clean.series.expected - 1, missing: 1 });
    expect(holed.series.windows).toEqual([{ first: new Date(removed.t).toISOString(), last: new Date(removed.t).toISOString(), bars: 1 }]);
    const text = await cli('gaps', '--symbols', symbol, '--interval', '1d');
    expect(text.stdout).toContain(`${symbol} 1d: 1 missing bar(s) in 1 window(s)`);
    expect(text.stdout).toMatch(new RegExp(`${day(removed.t)}\\s+${day(removed.t)}\\s+1`));
    await waitFor(async () => (await gauge('1d')) === 1, { what: 'the gauge at 1 missing daily bar', timeoutMs: 30_000 });

    // backfill --gaps asks for that bar alone, and it comes back as it was.
    const fill = await cli('backfill', '--gaps', '--symbols', symbol, '--interval', '1d', '--source', 'synthetic', '--json');
    expect(fill.code).toBe(0);
    expect(JSON.parse(fill.stdout)).toMatchObject({ published: 1, failed: 0, gaps: { windows: 1, missing: 1, unreachable: null } });
    await stored('1d', sessions.length);
    expect(await rows('1d')).toEqual(before);
    expect((await gaps('1d'))).toMatchObject({ code: 0, series: { missing: 0 } });
    await waitFor(async () => (await gauge('1d')) === 0, { what: 'the gauge back at 0', timeoutMs: 30_000 });

    // Nothing missing: nothing asked for.
    const again = await cli('backfill', '--gaps', '--symbols', symbol, '--interval', '1d', '--source', 'synthetic', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ published: 0, gaps: { windows: 0, missing: 0 } });
  });

  it('two hourly bars missing either side of a night are one window, refilled in one span', async () => {
    const first = await cli('backfill', '--symbols', symbol, '--days', '14', '--interval', '1h', '--source', 'synthetic', '--json');
    expect(first.code).toBe(0);
    const { published } = JSON.parse(first.stdout) as { published: number };
    await stored('1h', published);
    const before = await rows('1h');
    expect((await gaps('1h')).series).toMatchObject({ missing: 0, windows: [] });

    // A session's last bar and the next session's first.
    const i = before.findIndex((r, k) => k > 0 && day(r.t) !== day(before[k - 1]!.t) && k > before.length / 2);
    const [last, next] = [before[i - 1]!, before[i]!];
    await pool.query(`DELETE FROM price_data WHERE symbol = $1 AND interval = '1h' AND ts = ANY($2::timestamptz[])`,
      [symbol, [new Date(last.t).toISOString(), new Date(next.t).toISOString()]]);
    const holed = await gaps('1h');
    expect(holed.code).toBe(1);
    expect(holed.series.windows).toEqual([{ first: new Date(last.t).toISOString(), last: new Date(next.t).toISOString(), bars: 2 }]);
    await waitFor(async () => (await gauge('1h')) === 2, { what: 'the gauge at 2 missing hourly bars', timeoutMs: 30_000 });

    const fill = await cli('backfill', '--gaps', '--symbols', symbol, '--interval', '1h', '--source', 'synthetic', '--json');
    expect(JSON.parse(fill.stdout)).toMatchObject({ published: 2, gaps: { windows: 1, missing: 2 } });
    await stored('1h', before.length);
    expect(await rows('1h')).toEqual(before);
    await waitFor(async () => (await gauge('1h')) === 0, { what: 'the hourly gauge back at 0', timeoutMs: 30_000 });
    // The daily series is still whole.
    expect(await gauge('1d')).toBe(0);
  });
});
