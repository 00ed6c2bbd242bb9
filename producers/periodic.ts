// A job run every interval until stopped (graph producer, correlation analyzer): a failed run is logged and the next
// one tries again; stop() lets the run in flight finish.
import { errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';

export interface Periodic {
  /** Runs until stop() or maxRuns; resolves when the loop has ended. */
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
  clock?: () => number;
}): Periodic {
  const clock = o.clock ?? Date.now;
  let runs = 0;
  let loop: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;

  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => { wake = null; resolve(); }, ms);
    wake = () => { clearTimeout(timer); wake = null; resolve(); };
  });

  async function run(): Promise<void> {
    o.logger.info({ intervalMs: o.intervalMs, maxRuns: o.maxRuns }, `${o.name} started`);
    while (!stopping) {
      const started = clock();
      try {
        await o.run(started);
      } catch (err) {
        o.logger.error({ run: runs + 1, err: errorMessage(err), errClass: (err as Error)?.name }, `${o.name} run failed; trying again next interval`);
      }
      runs++;
      if ((o.maxRuns !== undefined && runs >= o.maxRuns) || stopping) break;
      await sleep(Math.max(0, started + o.intervalMs - clock()));
    }
    o.logger.info({ runs }, `${o.name} stopped`);
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
