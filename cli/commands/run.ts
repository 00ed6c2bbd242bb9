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

export function registerRun(program: Command): void {
  program.command('run')
    .description('run the price producer (PRICE_SOURCE) and every consumer group in one process')
    .action(async () => {
      const { config, logger } = loadContext('marketstream-run');
      if (config.PRICE_SOURCE === 'file') {
        program.error('run: PRICE_SOURCE=file needs a file; run `marketstream produce prices --source file --file <path>` beside `marketstream consume <group>`');
      }
      const sinks = await startSinks({ config, logger, names: sinkNames });
      const kafka = createKafka(config, logger, 'producer');
      const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
      await publisher.connect();
      const source = createPriceSource(config.PRICE_SOURCE, config.PRICE_SOURCE === 'synthetic' ? { seed: config.SYNTHETIC_SEED } : {}, { logger });
      const producer = createPriceProducer({ config, logger, publisher, source });
      const loop = producer.start();
      await stopOnSignal(logger, async () => {
        await producer.stop();
        await loop;
        await publisher.disconnect();
        await sinks.stop();
      });
    });
}
