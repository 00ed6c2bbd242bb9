// marketstream CLI: every command lives in cli/commands/<name>.ts and exports register(program).
import { Command } from 'commander';
import { silenceKnownKafkajsWarning } from '../lib/kafka.ts';
import { registerConfig } from './commands/config.ts';
import { registerConsume } from './commands/consume.ts';
import { registerDemo } from './commands/demo.ts';
import { registerProduce } from './commands/produce.ts';
import { registerProduceEvents } from './commands/produce-events.ts';
import { registerProduceGraph } from './commands/produce-graph.ts';
import { registerProduceCorrelations } from './commands/produce-correlations.ts';
import { registerRun } from './commands/run.ts';
import { registerStack } from './commands/stack.ts';
import { registerTopics } from './commands/topics.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerGaps } from './commands/gaps.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerDlq } from './commands/dlq.ts';
import { packageVersion, registerDoctor } from './commands/doctor.ts';
import { registerRebuild } from './commands/rebuild.ts';
import { registerReplay } from './commands/replay.ts';
import { registerEnrich } from './commands/enrich.ts';
import { registerExplain } from './commands/explain.ts';
import { registerSchema } from './commands/schema.ts';

silenceKnownKafkajsWarning();
// A reader that stops early (`marketstream config | head -1`, `inspect tail … | less`) is not an error: exit quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err; });

const program = new Command('marketstream')
  .description('Kafka streaming pipeline for market data')
  .version(packageVersion(), '-V, --version', 'print the marketstream version')
  .showHelpAfterError();

registerStack(program);
registerConfig(program);
registerTopics(program);
registerConsume(program);
registerProduce(program);
registerProduceEvents(program);
registerProduceGraph(program);
registerProduceCorrelations(program);
registerRun(program);
registerDemo(program);
registerBackfill(program);
registerGaps(program);
registerReplay(program);
registerRebuild(program);
registerInspect(program);
registerDlq(program);
registerEnrich(program);
registerExplain(program);
registerSchema(program);
registerDoctor(program);

await program.parseAsync(process.argv);
