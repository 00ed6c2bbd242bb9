// `marketstream demo [--duration s]`: starts the local stack if needed, creates the topics, runs the whole pipeline on
// offline data for a while (cli/demo/pipeline.ts), then prints what landed in each store (cli/demo/summary.ts).
import type { Command } from 'commander';
import { createKafka } from '../../lib/kafka.ts';
import { stackStatus, stackUp } from '../../stack/index.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { loadContext } from '../context.ts';
import { runDemoPipeline } from '../demo/pipeline.ts';
import { printSummary, readSummary } from '../demo/summary.ts';
import { positiveInt } from '../options.ts';

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('run the whole pipeline on offline data for a while and show what landed in PostgreSQL, Redis and Neo4j')
    .option('--duration <seconds>', 'how long live prices are produced', positiveInt, 30)
    .action(async (opts: { duration: number }) => {
      const { config, logger } = loadContext('marketstream-demo');
      const say = (m: string) => process.stdout.write(`${m}\n`);
      if (!(await stackStatus()).every((s) => s.healthy)) {
        say('Starting the local stack (the first run downloads Kafka and Neo4j and builds the Schema Registry; a few minutes)…');
        await stackUp({ log: (m) => say(`  ${m}`) });
      }
      const kafka = createKafka(config, logger, 'demo');
      const topics = await ensureTopics(kafka, config);
      say(`Topics ready (${topics.created.length} created).`);
      await runDemoPipeline({ config, logger, kafka, durationS: opts.duration, say });
      printSummary(await readSummary(config, config.SYMBOLS));
    });
}
