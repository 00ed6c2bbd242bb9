// The missing-bars gauge (marketstream_price_missing_bars{symbol, interval}): every GAPS_REFRESH_SECONDS, the gaps of
// each series of SYMBOLS over the last GAPS_LOOKBACK_DAYS, counted as `gaps` counts them. The postgres-sink process runs
// it (cli/commands/consume.ts, run.ts): it is the one that fills price_data, its /metrics is scraped anyway, and a hole
// there is the sink's product going wrong whatever the cause upstream. A recount that fails keeps the last values.
import { calendarOf } from '../../lib/calendar.ts';
import type { Config } from '../../lib/config.ts';
import { errorClass, errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { BAR_INTERVALS } from './find.ts';
import { storedGaps } from './store.ts';

const DAY_MS = 86_400_000;
/** How long stop() waits for a count in flight. */
const STOP_WAIT_MS = 2000;

export interface GapsGauge {
  /** A recount started now (after the one in flight, if any); resolves when the gauge holds it. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/** Counts now and every GAPS_REFRESH_SECONDS; null when GAPS_REFRESH_SECONDS is 0. */
export function startGapsGauge(o: { config: Config; logger: Logger; metrics: Metrics; clock?: () => number; pool?: Pool }): GapsGauge | null {
  const { config, metrics } = o;
  if (config.GAPS_REFRESH_SECONDS === 0) return null;
  const log = o.logger.child({ component: 'gaps-gauge' });
  const clock = o.clock ?? Date.now;
  const pool = o.pool ?? createPgPool(config, { max: 1, applicationName: 'marketstream-gaps' });
  let inFlight: Promise<void> | null = null;
  let failing = false;

  async function count(): Promise<void> {
    const now = clock();
    try {
      const report = await storedGaps(pool, {
        calendar: calendarOf(config.GAPS_CALENDAR), intervals: BAR_INTERVALS, symbols: config.SYMBOLS,
        notBefore: now - config.GAPS_LOOKBACK_DAYS * DAY_MS, until: now - config.GAPS_GRACE_SECONDS * 1000,
      });
      metrics.priceMissingBars(report.series);
      if (failing) log.info('missing bars counted again');
      failing = false;
      log.debug({ series: report.series.length, missing: report.series.reduce((n, s) => n + s.missing, 0), ms: clock() - now }, 'missing bars counted');
    } catch (err) {
      metrics.error('gaps-gauge', errorClass(err));
      if (!failing) log.warn({ err: errorMessage(err) }, 'could not count missing bars; the gauge keeps its last values');
      failing = true;
    }
  }

  const run = (): Promise<void> => {
    const p: Promise<void> = (inFlight ?? Promise.resolve()).then(count).finally(() => { if (inFlight === p) inFlight = null; });
    return inFlight = p;
  };
  // The timer never queues a recount behind a slow one.
  const timer = setInterval(() => { if (!inFlight) void run(); }, config.GAPS_REFRESH_SECONDS * 1000);
  timer.unref();
  void run();

  return {
    refresh: run,
    async stop() {
      clearInterval(timer);
      // A count held up by the store (a lock, a dead connection) must not hold up the process's shutdown: it is dropped.
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([inFlight, new Promise((resolve) => { wait = setTimeout(resolve, STOP_WAIT_MS); })]).finally(() => clearTimeout(wait));
      if (o.pool) return;
      if (inFlight) void pool.end().catch(() => {});
      else await pool.end();
    },
  };
}
