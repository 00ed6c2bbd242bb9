// `marketstream consume <group> [--instances N]`: run one consumer group until SIGINT/SIGTERM: one member in this
// process, or N members in N child processes (./../members.ts) so the group uses every core.
import { type Command, InvalidArgumentError } from 'commander';
import { isSinkName, sinkNames, sinks, type SinkName } from '../../consumers/catalog.ts';
import { startSinks } from '../../consumers/start.ts';
import { loadContext } from '../context.ts';
import { stopOnSignal } from '../lifecycle.ts';
import { startGapsGauge } from '../../ops/gaps/gauge.ts';
import { isFirstMember, startMemberProcesses } from '../members.ts';
import { startObservability } from '../observability.ts';
import { positiveInt } from '../options.ts';

function sinkName(v: string): SinkName {
  if (!isSinkName(v)) throw new InvalidArgumentError(`expected one of ${sinkNames.join(', ')}`);
  return v;
}

export function registerConsume(program: Command): void {
  program.command('consume')
    .description(`run a consumer group: ${sinkNames.map((n) => `${n} (${sinks[n].description})`).join('; ')}`)
    .argument('<group>', `one of ${sinkNames.join(', ')}`, sinkName)
    .option('--instances <n>', 'members of the group, each in its own process (metrics on METRICS_PORT + i)', positiveInt, 1)
    .action(async (name: SinkName, opts: { instances: number }) => {
      const { config, logger } = loadContext(sinks[name].name);
      if (opts.instances > 1) {
        const members = startMemberProcesses({ group: name, instances: opts.instances, config, logger });
        await stopOnSignal(logger, () => members.stop(), config.SHUTDOWN_GRACE_SECONDS * 1000);
        return;
      }
      const obs = await startObservability({ config, logger, command: `consume ${name}` });
      const running = await startSinks({ config, logger, names: [name], instances: opts.instances, hooks: obs.sinkHooks });
      // postgres-sink exports the missing-bars gauge of price_data (ops/gaps/gauge.ts), once per group: in member 0.
      const gauge = name === 'postgres' && isFirstMember() ? startGapsGauge({ config, logger, metrics: obs.metrics }) : null;
      obs.started();
      await stopOnSignal(logger, async () => {
        obs.stopping();
        const [clean] = await Promise.all([running.stop(), gauge?.stop()]);
        await obs.close();
        return clean;
      }, config.SHUTDOWN_GRACE_SECONDS * 1000, running.failed);
    });
}
