// The correlation analyzer: every interval (CORRELATION_POLL_MINUTES, hourly by default) it reads daily closes from
// PostgreSQL price_data (see correlation/daily-closes.ts), computes the Pearson correlation of daily returns over the
// last `window` returns (CORRELATION_WINDOW_DAYS, default 30) for every pair of symbols, and publishes to graph-mutations:
// - |r| >= threshold (CORRELATION_THRESHOLD, default 0.7; strong negative correlation counts too):
//   CORRELATED_WITH upsert {coefficient, window_days, observations, last_day, computed_at}, one direction per pair
//   (symbols sorted), key `CORRELATED_WITH:A:B`;
// - |r| < threshold: a DeleteRelationship — on a process's first run for every evaluated pair (the graph may hold it
//   from an earlier run), later only for pairs this process had published above the threshold;
// - pairs without enough common data are left as they are (no new information).
// Only completed UTC days count (today's partial day is left out). After the first run, unchanged upserts are not
// published again (compared without computed_at).
import { randomUUID } from 'node:crypto';
import { classifyPgError, migrate, type Pool } from '../lib/stores/postgres.ts';
import type { GraphMutation } from '../schemas/types.generated.ts';
import { deleteRelationship, long, upsertRelationship } from '../topics/graph-model.ts';
import { graphMutations } from '../topics/index.ts';
import { readDailyCloses } from './correlation/daily-closes.ts';
import { correlatePairs } from './correlation/pearson.ts';
import { signature } from './graph/build.ts';
import { createGraphJobLoop, type PeriodicGraphJobOptions, type Periodic } from './periodic.ts';

const DAY_MS = 86_400_000;

export interface CorrelationAnalyzerOptions extends PeriodicGraphJobOptions {
  /** The caller's pool; the analyzer never ends it. */
  pool: Pool;
  /** Symbols to correlate (default config SYMBOLS); 'all' = every symbol with bars in the lookback. */
  symbols?: readonly string[] | 'all';
  windowDays?: number;
  threshold?: number;
}

export interface CorrelationRunResult {
  symbols: number;
  pairs: number;
  above: number;
  skipped: number;
  published: number;
  deletes: number;
}

export interface CorrelationAnalyzer extends Periodic {
  runOnce(now?: number): Promise<CorrelationRunResult>;
}

/** Calendar days read to find `window` + 1 common trading days (weekends, holidays, gaps). */
export function lookbackDays(window: number): number {
  return 2 * window + 10;
}

export function createCorrelationAnalyzer(o: CorrelationAnalyzerOptions): CorrelationAnalyzer {
  const windowDays = o.windowDays ?? o.config.CORRELATION_WINDOW_DAYS;
  const threshold = o.threshold ?? o.config.CORRELATION_THRESHOLD;
  const symbols = o.symbols ?? o.config.SYMBOLS;
  const topic = o.topic ?? graphMutations;
  const clock = o.clock ?? Date.now;
  const logger = o.logger.child({ component: 'correlation-analyzer', topic: topic.name });
  const lastSignature = new Map<string, string>(); // pair key → signature of the upsert last published
  let migrated = false;
  let firstRun = true;

  async function runOnce(now = clock()): Promise<CorrelationRunResult> {
    const correlationId = randomUUID();
    const to = Math.floor(now / DAY_MS) * DAY_MS; // start of today (UTC): completed days only
    let series;
    try {
      if (!migrated) { await migrate(o.pool); migrated = true; }
      series = await readDailyCloses(o.pool, { from: to - lookbackDays(windowDays) * DAY_MS, to, symbols: symbols === 'all' ? null : symbols });
    } catch (err) {
      throw classifyPgError(err);
    }
    const { pairs, skipped } = correlatePairs(series, windowDays);
    const meta = { origin: 'correlation', time: now } as const;
    const computedAt = new Date(now).toISOString();
    const out: GraphMutation[] = [];
    let above = 0;
    for (const p of pairs) {
      const key = `${p.a}:${p.b}`;
      if (Math.abs(p.coefficient) >= threshold) {
        above++;
        const m = upsertRelationship('CORRELATED_WITH', p.a, p.b, {
          coefficient: Math.round(p.coefficient * 10_000) / 10_000, window_days: long(windowDays), observations: long(p.observations),
          last_day: p.lastDay, computed_at: computedAt,
        }, meta);
        if (lastSignature.get(key) !== signature(m)) out.push(m);
      } else if (firstRun || lastSignature.has(key)) {
        out.push(deleteRelationship('CORRELATED_WITH', p.a, p.b, meta));
      }
    }
    await o.publisher.send(topic, out, { source: 'correlation-analyzer', correlationId });
    for (const m of out) {
      const r = 'UpsertRelationship' in m.op ? m.op.UpsertRelationship : 'DeleteRelationship' in m.op ? m.op.DeleteRelationship : null;
      if (!r) continue;
      const key = `${r.from.key}:${r.to.key}`;
      if ('UpsertRelationship' in m.op) lastSignature.set(key, signature(m)); else lastSignature.delete(key);
    }
    firstRun = false;

    const result: CorrelationRunResult = {
      symbols: series.size, pairs: pairs.length, above, skipped: skipped.length,
      published: out.length, deletes: out.filter((m) => 'DeleteRelationship' in m.op).length,
    };
    logger.info({ ...result, windowDays, threshold, correlationId }, 'correlation run');
    if (skipped.length) logger.debug({ skipped: skipped.slice(0, 20) }, 'pairs without a coefficient');
    return result;
  }

  return createGraphJobLoop('correlation analyzer', o, o.config.CORRELATION_POLL_MINUTES * 60_000, logger, runOnce);
}
