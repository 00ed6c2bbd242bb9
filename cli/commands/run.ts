// `marketstream run`: everything in one process — the price producer and every consumer group — until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { sinkNames } from '../../consumers/registry.ts';
import { startSinks } from '../../consumers/start.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createPriceSource } from '../../producers/sources/index.ts';
import { loadContext } from '../context.ts';
import { stopOnSignal } from '../lifecycle.ts';
import { startObservability } from '../observability.ts';

export function registerRun(program: Command): void {
  program.command('run')
    .description('run the price producer (PRICE_SOURCE) and every consumer group in one process')
    .action(async () => {
      const { config, logger } = loadContext('marketstream-run');
      if (config.PRICE_SOURCE === 'file') {
        program.error('run: PRICE_SOURCE=file needs a file; run `marketstream produce prices --source file --file <path>` beside `marketstream consume <group>`');
      }
      const obs = await startObservability({ config, logger, command: 'run' });
      const sinks = await startSinks({ config, logger, names: sinkNames, hooks: obs.sinkHooks });
      const kafka = createKafka(config, logger, 'producer');
      const publisher = obs.instrumentPublisher(createPublisher({ kafka, serde: createSerde(config), logger }));
      await publisher.connect();
      const circuit = config.PRICE_SOURCE === 'yahoo' ? { onCircuitStateChange: obs.circuit('yahoo') } : {};
      const source = obs.instrumentSource(createPriceSource(config.PRICE_SOURCE, config.PRICE_SOURCE === 'synthetic' ? { seed: config.SYNTHETIC_SEED } : {}, { logger, ...circuit }));
      const producer = createPriceProducer({ config, logger, publisher, source });
      const loop = producer.start();
      obs.started();
      await stopOnSignal(logger, async () => {
        obs.stopping();
        await producer.stop();
        await loop;
        await publisher.disconnect();
        await sinks.stop();
        await obs.close();
      });
    });
}
