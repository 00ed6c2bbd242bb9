// `marketstream run`: everything in one process — every producer (prices, events, graph, correlations) and every
// consumer group — until SIGINT/SIGTERM, with one /metrics and health port.
import { type Command, InvalidArgumentError } from 'commander';
import { isSinkName, sinkNames, type SinkName } from '../../consumers/catalog.ts';
import { startSinks } from '../../consumers/start.ts';
import { loadContext } from '../context.ts';
import { jobNames, jobs as jobRegistry } from '../../producers/catalog.ts';
import { stopOnSignal } from '../lifecycle.ts';
import { startGapsGauge } from '../../ops/gaps/gauge.ts';
import { startMemberProcesses } from '../members.ts';
import { openPublishing } from '../producing.ts';

export function registerRun(program: Command): void {
  program.command('run')
    .description(`run every producer (${jobNames.join(', ')}) and every consumer group (${sinkNames.join(', ')}) in one process`)
    .option('--instances <group=n...>', 'run a group as n members in n child processes (e.g. postgres=2); the other groups run in this process',
      parseInstances, {})
    .action(async (opts: { instances: Partial<Record<SinkName, number>> }) => {
      const { config, logger } = loadContext('marketstream-run');
      if (config.PRICE_SOURCE.includes('file')) {
        program.error('run: PRICE_SOURCE=file needs a file; ' +
          'run `marketstream produce prices --source file --file <path>` beside `marketstream consume <group>`');
      }
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'run', clientId: 'producers' })) };
      const forked = sinkNames.filter((n) => (opts.instances[n] ?? 1) > 1);
      const sinks = await startSinks({ config, logger, names: sinkNames.filter((n) => !forked.includes(n)), hooks: ctx.obs.sinkHooks });
      // Child processes take the ports after this process's own.
      const members = forked.map((group, g) => startMemberProcesses({
        group, instances: opts.instances[group]!, logger,
        config: {
          ...config, METRICS_PORT: config.METRICS_PORT === 0 ? 0 : config.METRICS_PORT + 1 + forked.slice(0, g).reduce((n, f) => n + opts.instances[f]!, 0),
        },
      }));
      // The missing-bars gauge goes with postgres-sink: here, or in its member 0 when it runs as child processes.
      const gauge = forked.includes('postgres') ? null : startGapsGauge({ config, logger, metrics: ctx.obs.metrics });
      const jobs = jobNames.map((name) => jobRegistry[name].create(ctx));
      const loops = jobs.map((j) => j.start());
      ctx.obs.started();
      await stopOnSignal(logger, async () => {
        ctx.obs.stopping();
        await Promise.all(jobs.map((j) => j.stop()));
        await Promise.all(loops);
        await Promise.all(jobs.map((j) => j.close()));
        await ctx.publisher.disconnect();
        const [clean] = await Promise.all([sinks.stop(), gauge?.stop(), ...members.map((m) => m.stop())]);
        await ctx.obs.close();
        return clean;
      }, config.SHUTDOWN_GRACE_SECONDS * 1000, sinks.failed);
    });
}

/** `postgres=2` (repeatable): members of a group in child processes. */
function parseInstances(v: string, previous: Partial<Record<SinkName, number>>): Partial<Record<SinkName, number>> {
  const m = /^([a-z0-9-]+)=(\d+)$/.exec(v.trim());
  if (!m || !isSinkName(m[1]!) || Number(m[2]) < 1) {
    throw new InvalidArgumentError(`expected <group>=<n> with group one of ${sinkNames.join(', ')} and n ≥ 1 (got ${v})`);
  }
  return { ...previous, [m[1]!]: Number(m[2]) };
}
