// `marketstream run`: everything in one process — every producer (prices, events, graph, correlations) and every
// consumer group — until SIGINT/SIGTERM, with one /metrics and health port.
import type { Command } from 'commander';
import { sinkNames } from '../../consumers/registry.ts';
import { startSinks } from '../../consumers/start.ts';
import { loadContext } from '../context.ts';
import { jobNames, jobs as jobRegistry } from '../../producers/registry.ts';
import { stopOnSignal } from '../lifecycle.ts';
import { openPublishing } from '../producing.ts';

export function registerRun(program: Command): void {
  program.command('run')
    .description(`run every producer (${jobNames.join(', ')}) and every consumer group (${sinkNames.join(', ')}) in one process`)
    .action(async () => {
      const { config, logger } = loadContext('marketstream-run');
      if (config.PRICE_SOURCE === 'file') {
        program.error('run: PRICE_SOURCE=file needs a file; run `marketstream produce prices --source file --file <path>` beside `marketstream consume <group>`');
      }
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'run', clientId: 'producers' })) };
      const sinks = await startSinks({ config, logger, names: sinkNames, hooks: ctx.obs.sinkHooks });
      const jobs = jobNames.map((name) => jobRegistry[name].create(ctx));
      const loops = jobs.map((j) => j.start());
      ctx.obs.started();
      await stopOnSignal(logger, async () => {
        ctx.obs.stopping();
        await Promise.all(jobs.map((j) => j.stop()));
        await Promise.all(loops);
        await Promise.all(jobs.map((j) => j.close()));
        await ctx.publisher.disconnect();
        await sinks.stop();
        await ctx.obs.close();
      });
    });
}
