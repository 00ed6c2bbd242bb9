// A job run every interval until stopped (price and events producers, graph producer, correlation analyzer): a failed
// run is logged and the next one tries again; the loop also ends after maxRuns or once `exhausted()` says a finite
// source has nothing more; stop() wakes the sleep and lets the run in flight finish.
import type { Config } from '../lib/config.ts';
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { GraphMutation } from '../schemas/types.generated.ts';
import type { TopicDef } from '../topics/index.ts';

/** What the periodic graph-mutations jobs (graph producer, correlation analyzer) are built with besides their own inputs. */
export interface PeriodicGraphJobOptions {
  config: Config;
  logger: Logger;
  publisher: Publisher;
  /** Between the starts of two runs (default: the job's poll minutes from config). */
  intervalMs?: number;
  maxRuns?: number;
  /** Default graph-mutations; tests use an isolated copy. */
  topic?: TopicDef<GraphMutation>;
  clock?: () => number;
}

export interface Periodic {
  /** Runs until stop(), maxRuns or exhausted(); resolves when the loop has ended. */
  start(): Promise<void>;
  /** Stops after the run in flight; resolves once it is done. */
  stop(): Promise<void>;
  readonly runs: number;
}

export function createPeriodic(o: {
  name: string;
  intervalMs: number;
  logger: Logger;
  run: (now: number) => Promise<unknown>;
  maxRuns?: number;
  /** Checked after each run: true ends the loop (a finite source ran dry). */
  exhausted?: () => boolean;
  /** What one run is called in the log lines' fields and messages (default 'run'; the producers say 'tick'). */
  unit?: string;
  /** Extra fields of the "started" log line. */
  describe?: Record<string, unknown>;
  /** Extra fields of the "stopped" log line (e.g. totals). */
  summary?: () => Record<string, unknown>;
  clock?: () => number;
}): Periodic {
  const clock = o.clock ?? Date.now;
  const unit = o.unit ?? 'run';
  const Unit = unit.charAt(0).toUpperCase() + unit.slice(1);
  let runs = 0;
  let loop: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;

  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => { wake = null; resolve(); }, ms);
    wake = () => { clearTimeout(timer); wake = null; resolve(); };
  });

  async function run(): Promise<void> {
    o.logger.info({ ...o.describe, intervalMs: o.intervalMs, [`max${Unit}s`]: o.maxRuns }, `${o.name} started`);
    while (!stopping) {
      const started = clock();
      try {
        await o.run(started);
      } catch (err) {
        // A failed run (source down, circuit open, Kafka unavailable after retries) is logged; the next one tries again.
        o.logger.error({ [unit]: runs + 1, err: errorMessage(err), errClass: (err as Error)?.name }, `${o.name} ${unit} failed; trying again next interval`);
      }
      runs++;
      if (o.maxRuns !== undefined && runs >= o.maxRuns) break;
      if (o.exhausted?.()) { o.logger.info('source has nothing more: stopping'); break; }
      if (stopping) break;
      await sleep(Math.max(0, started + o.intervalMs - clock()));
    }
    o.logger.info({ [`${unit}s`]: runs, ...o.summary?.() }, `${o.name} stopped`);
  }

  return {
    start() {
      if (loop) return loop;
      stopping = false;
      loop = run().finally(() => { loop = null; });
      return loop;
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
    get runs() { return runs; },
  };
}

/** A graph job's loop: `runOnce` every interval (the caller's, or the job's default), with runOnce exposed for --once. */
export function createGraphJobLoop<R>(
  name: string, o: PeriodicGraphJobOptions, defaultIntervalMs: number, logger: Logger, runOnce: (now?: number) => Promise<R>,
): Periodic & { runOnce(now?: number): Promise<R> } {
  const periodic = createPeriodic({
    name, logger, run: runOnce, clock: o.clock ?? Date.now, intervalMs: o.intervalMs ?? defaultIntervalMs,
    ...(o.maxRuns !== undefined ? { maxRuns: o.maxRuns } : {}),
  });
  return { start: periodic.start, stop: periodic.stop, get runs() { return periodic.runs; }, runOnce };
}
