// `marketstream demo [--duration s]`: starts the local stack if needed, creates the topics, runs the synthetic
// producer and the three consumer groups for a while, then prints what landed in each store.
import type { Command } from 'commander';
import { groupIdOf, sinkNames } from '../../consumers/registry.ts';
import { startSinks } from '../../consumers/start.ts';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../../lib/kafka.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import { stackStatus, stackUp } from '../../stack/index.ts';
import { sinkTopicNames } from '../../ops/groups.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { loadContext } from '../context.ts';
import { printSummary, readSummary } from '../demo/summary.ts';
import { startObservability } from '../observability.ts';
import { positiveInt } from './consume.ts';

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('run the pipeline on synthetic prices for a while and show what landed in PostgreSQL, Redis and Neo4j')
    .option('--duration <seconds>', 'how long the producer runs', positiveInt, 30)
    .action(async (opts: { duration: number }) => {
      const { config, logger } = loadContext('marketstream-demo');
      const say = (m: string) => process.stdout.write(`${m}\n`);
      if (!(await stackStatus()).every((s) => s.healthy)) {
        say('Starting the local stack (first run downloads Kafka, Neo4j and builds the Schema Registry; about a minute)…');
        await stackUp({ log: (m) => say(`  ${m}`) });
      }
      const kafka = createKafka(config, logger, 'demo');
      const topics = await ensureTopics(kafka, config);
      say(`Topics ready (${topics.created.length} created).`);
      const obs = await startObservability({ config, logger, command: 'demo' });
      const sinks = await startSinks({ config, logger, names: sinkNames, hooks: obs.sinkHooks });
      say(`Consumer groups running: ${sinkNames.map((n) => groupIdOf(config, n)).join(', ')}`);

      const publisher = obs.instrumentPublisher(createPublisher({ kafka, serde: createSerde(config), logger }));
      await publisher.connect();
      obs.started();
      say(`Metrics and health: ${obs.url}/metrics, ${obs.url}/health`);
      // Ticks (one price per second) so the latest price keeps moving; the first fetch also catches up the last minute.
      const source = obs.instrumentSource(createSyntheticSource({ seed: config.SYNTHETIC_SEED, interval: 'tick' }));
      const producer = createPriceProducer({ config, logger, publisher, source, intervalMs: 1000 });
      say(`Synthetic producer publishing ${config.SYMBOLS.join(', ')} every second for ${opts.duration} s (source: synthetic, seed ${config.SYNTHETIC_SEED})…`);
      const loop = producer.start();
      // SIGINT/SIGTERM ends the producing phase early; the groups still catch up and stop cleanly (a second signal kills).
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); process.off('SIGINT', done); process.off('SIGTERM', done); resolve(); };
        const timer = setTimeout(done, opts.duration * 1000);
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await producer.stop();
      await loop;
      await publisher.disconnect();
      say(`Published ${producer.totals.published} price updates (${producer.totals.invalid + producer.totals.rejected} dead-lettered). Letting the groups catch up…`);
      await waitForCatchUp(kafka, sinkNames.map((n) => ({ groupId: groupIdOf(config, n), topics: sinkTopicNames(config, n) })), 60_000);
      obs.stopping();
      await sinks.stop();
      await obs.close();
      printSummary(await readSummary(config, config.SYMBOLS));
    });
}

/** Waits until every group has committed up to the end of the topics it reads, or the limit. */
async function waitForCatchUp(kafka: Kafka, groups: readonly { groupId: string; topics: string[] }[], limitMs: number): Promise<void> {
  const until = Date.now() + limitMs;
  for (const g of groups) {
    while (Date.now() < until && (await totalLag(kafka, g.groupId, g.topics)) > 0) await new Promise((r) => setTimeout(r, 500));
  }
}
