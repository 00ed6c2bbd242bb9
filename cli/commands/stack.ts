// `marketstream stack up|down|status`: the local stack of Kafka, Schema Registry, PostgreSQL, Redis and Neo4j.
import type { Command } from 'commander';
import { loadContext } from '../context.ts';
import { stackDown, stackStatus, stackUp, type ServiceStatus } from '../../stack/index.ts';

function progress(message: string): void {
  process.stdout.write(`stack: ${message}\n`);
}

export function formatStatus(statuses: ServiceStatus[]): string {
  const lines = statuses.map((s) => {
    const state = s.healthy ? 'healthy' : 'not healthy';
    const owner = s.pid !== undefined ? `pid ${s.pid}` : s.healthy ? 'external' : '-';
    return `${s.name.padEnd(16)} ${s.address.padEnd(16)} ${state.padEnd(12)} ${owner}`;
  });
  const healthy = statuses.filter((s) => s.healthy).length;
  lines.push(`${healthy}/${statuses.length} healthy`);
  return `${lines.join('\n')}\n`;
}

export function registerStack(program: Command): void {
  const stack = program.command('stack').description('Run the local stack (Kafka, Schema Registry, PostgreSQL, Redis, Neo4j) without Docker');

  stack.command('up')
    .description('Install what is missing, start every service that does not already answer, wait until all are healthy')
    .option('--timeout <seconds>', 'how long each service may take to answer once started', '180')
    .action(async (opts: { timeout: string }) => {
      const { config } = loadContext('stack');
      const started = Date.now();
      try {
        const statuses = await stackUp({ stackDir: config.STACK_DIR, kafkaBrokers: config.STACK_KAFKA_BROKERS,
          timeoutMs: Number(opts.timeout) * 1000, log: progress });
        process.stdout.write(formatStatus(statuses));
        process.stdout.write(`stack up took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      } catch (err) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });

  stack.command('down')
    .description('Stop the processes that stack up started (from their pid files)')
    .action(async () => {
      const { config } = loadContext('stack');
      const results = await stackDown({ stackDir: config.STACK_DIR, kafkaBrokers: config.STACK_KAFKA_BROKERS, log: progress });
      if (results.every((r) => r.result === 'not running')) progress('nothing was running');
    });

  stack.command('status')
    .description('One line per service: address, healthy or not, pid (or external); exits 1 unless all are healthy')
    .action(async () => {
      const { config } = loadContext('stack');
      const statuses = await stackStatus({ stackDir: config.STACK_DIR, kafkaBrokers: config.STACK_KAFKA_BROKERS });
      process.stdout.write(formatStatus(statuses));
      if (!statuses.every((s) => s.healthy)) process.exitCode = 1;
    });
}
