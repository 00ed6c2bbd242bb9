// One instrumentation wrapper for every source (producers/source-registry.ts): fetches counted by outcome under the
// source's label, errors under its component, and the source otherwise untouched.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../lib/metrics.ts';
import { instrumentedSource } from '../../producers/source-registry.ts';
import { instrumentPriceFeed } from '../../producers/sources/index.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';

const value = async (m: ReturnType<typeof createMetrics>, name: string, labels: Record<string, string>) =>
  (await m.registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;

describe('instrumentedSource', () => {
  it('counts ok, empty and failed fetches under the label, the error under the component, and rethrows', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const answers: (string[] | Error)[] = [['a'], [], new Error('boom')];
    let closed = 0;
    const source = {
      name: 'test',
      async fetch(_symbols: readonly string[], _now: number) { const a = answers.shift()!; if (a instanceof Error) throw a; return a; },
      async close() { closed++; },
    };
    const w = instrumentedSource(source, m, 'events-file', 'events-component');
    expect(await w.fetch([], 0)).toEqual(['a']);
    expect(await w.fetch([], 0)).toEqual([]);
    await expect(w.fetch([], 0)).rejects.toThrow('boom');
    await w.close();
    expect(closed).toBe(1);
    for (const outcome of ['ok', 'empty', 'error']) expect(await value(m, 'marketstream_source_fetches_total', { source: 'events-file', outcome })).toBe(1);
    expect(await value(m, 'marketstream_errors_total', { component: 'events-component', kind: 'Error' })).toBe(1);
  });

  it('a price feed counts under its name, its errors under <name>-source, and keeps its other members', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const feed = instrumentPriceFeed(createSyntheticSource({ seed: 1 }), m);
    expect(feed.name).toBe('synthetic');
    expect((await feed.fetch(['AAPL'], Date.UTC(2026, 0, 5, 15))).length).toBeGreaterThan(0);
    expect(await value(m, 'marketstream_source_fetches_total', { source: 'synthetic', outcome: 'ok' })).toBe(1);
  });
});
