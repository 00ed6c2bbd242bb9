// marketstream CLI: every command lives in cli/commands/<name>.ts and exports register(program).
import { Command } from 'commander';
import { silenceKnownKafkajsWarning } from '../lib/kafka.ts';
import { registerConsume } from './commands/consume.ts';
import { registerDemo } from './commands/demo.ts';
import { registerProduce } from './commands/produce.ts';
import { registerRun } from './commands/run.ts';
import { registerStack } from './commands/stack.ts';
import { registerTopics } from './commands/topics.ts';

silenceKnownKafkajsWarning();

const program = new Command('marketstream')
  .description('Kafka streaming pipeline for market data')
  .showHelpAfterError();

registerStack(program);
registerTopics(program);
registerConsume(program);
registerProduce(program);
registerRun(program);
registerDemo(program);

await program.parseAsync(process.argv);
