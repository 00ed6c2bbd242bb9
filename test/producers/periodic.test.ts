// The loop behind every periodic job (price and events producers, graph producer, correlation analyzer): a failed run
// does not end it, it ends after maxRuns or once the source is exhausted, and stop() wakes a long sleep and waits for
// the run in flight.
import { describe, expect, it } from 'vitest';
import { createPeriodic } from '../../producers/periodic.ts';
import { testLogger } from '../helpers/index.ts';

const logger = testLogger('periodic-test');

describe('periodic loop', () => {
  it('keeps going after a failed run and ends after maxRuns', async () => {
    const seen: number[] = [];
    const p = createPeriodic({
      name: 'job', logger, intervalMs: 0, maxRuns: 3,
      run: async () => { seen.push(seen.length); if (seen.length === 1) throw new Error('boom'); },
    });
    await p.start();
    expect(seen).toEqual([0, 1, 2]);
    expect(p.runs).toBe(3);
  });

  it('ends once exhausted() says the source has nothing more', async () => {
    let left = 2;
    const p = createPeriodic({ name: 'job', logger, intervalMs: 0, run: async () => { left--; }, exhausted: () => left === 0 });
    await p.start();
    expect(p.runs).toBe(2);
  });

  it('stop() wakes the sleep between runs and lets the run in flight finish', async () => {
    let finished = 0;
    let release: () => void = () => {};
    const p = createPeriodic({
      name: 'job', logger, intervalMs: 3_600_000,
      run: async () => { await new Promise<void>((r) => { release = r; }); finished++; },
    });
    const loop = p.start();
    await new Promise((r) => setImmediate(r));
    const stopped = p.stop();
    release();
    await stopped;
    await loop;
    expect(finished).toBe(1);
    expect(p.runs).toBe(1);

    // A second start runs again; stop during the hour-long sleep returns without waiting for it.
    const again = p.start();
    await new Promise((r) => setImmediate(r));
    release();
    while (p.runs < 2) await new Promise((r) => setImmediate(r));
    await p.stop();
    await again;
    expect(finished).toBe(2);
  });
});
