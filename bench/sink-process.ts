// One sink process of the benchmark, as `marketstream consume <group>` runs it (one member per process), with the
// runner's hooks recording what it wrote: started by bench/bench.ts over IPC with { names, topic, config overrides },
// it answers 'joined' once each group has its partitions, and on 'stop' it stops gracefully and sends what it measured
// (records written, batches, join and last-write times, end-to-end latencies, its peak RSS).
import { loadConfig } from '../lib/config.ts';
import { createLogger } from '../lib/logger.ts';
import type { SinkName } from '../consumers/catalog.ts';
import { graphMutations, marketEvents, priceFeatures, priceUpdates, withName } from '../topics/index.ts';
import { runSinks } from './measure.ts';

export interface SinkProcessRequest { names: SinkName[]; topic: string; events: string; mutations: string; env: Record<string, string> }
export interface SinkProcessReport {
  written: Record<string, number>; batches: Record<string, number>;
  joinedAt: Record<string, number>; lastWritten: Record<string, number>;
  latencies: Record<string, number[]>; featureLatencies: Record<string, number[]>; delivery: Record<string, number[]>; maxRssMb: number;
  /** Peaks of process.memoryUsage() (MB, sampled every 100 ms): where the RSS goes (V8 heap, Buffers outside it). */
  memoryMb: Record<string, number>;
}

const send = (m: unknown) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

process.once('message', async (req: SinkProcessRequest) => {
  Object.assign(process.env, req.env);
  const config = loadConfig();
  const logger = createLogger({ level: 'warn', format: 'json' });
  // price-features of this price topic and group prefix only: what the features group publishes and the postgres and
  // redis sinks of the same prefix read (the latency runs, all groups together), never the real topic, and never the
  // features of another run (a sink catching up alone reads an empty one).
  const features = withName(priceFeatures, `${req.topic}-features-${config.KAFKA_GROUP_PREFIX}`);
  const others = { events: withName(marketEvents, req.events), mutations: withName(graphMutations, req.mutations), features };
  const run = await runSinks(config, logger, req.names, withName(priceUpdates, req.topic), { latencies: process.env.BENCH_LATENCIES !== 'false', others });
  const peak: Record<string, number> = {};
  const sampler = setInterval(() => {
    for (const [k, v] of Object.entries(process.memoryUsage())) peak[k] = Math.max(peak[k] ?? 0, Math.round(v / 1048576));
  }, 100);
  const joined = setInterval(() => { if (req.names.every((n) => run.joinedAt.has(n))) { clearInterval(joined); void send({ type: 'joined' }); } }, 20);
  process.once('message', async () => {
    clearInterval(sampler);
    await run.stop();
    const obj = <V>(m: Map<string, V>) => Object.fromEntries(m);
    const report: SinkProcessReport = {
      written: obj(run.written), batches: obj(run.batches), joinedAt: obj(run.joinedAt), lastWritten: obj(run.lastWritten),
      latencies: obj(run.latencies), featureLatencies: obj(run.featureLatencies), delivery: obj(run.delivery),
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024), memoryMb: peak,
    };
    await send({ type: 'report', report });
    process.exit(0);
  });
  await send({ type: 'started' });
});
