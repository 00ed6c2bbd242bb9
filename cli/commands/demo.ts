// `marketstream demo [--duration s] [--verbose]`: starts the local stack if needed, creates the topics, runs the whole
// pipeline on offline data for a while (cli/demo/pipeline.ts), then prints what landed in each store (cli/demo/summary.ts).
// On a terminal the demo's steps scroll above a live view redrawn twice a second (cli/demo/view.ts); elsewhere the
// steps and a status line every 5 s. Logs go to <STACK_DIR>/logs/demo-<time>.log (JSON lines); --verbose also shows
// them on stderr, and then there is no live view (plain steps and status lines between the log records).
import { relative, isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import PinoPretty from 'pino-pretty';
import { loadConfig, type Config } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { processMetrics } from '../../lib/metrics.ts';
import { stackPaths } from '../../stack/paths.ts';
import { stackStatus, stackUp } from '../../stack/index.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { runDemoPipeline } from '../demo/pipeline.ts';
import { createStatsReader } from '../demo/stats.ts';
import { printSummary, readSummary } from '../demo/summary.ts';
import { createDemoOutput } from '../demo/view.ts';
import { positiveInt } from '../options.ts';

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('run the whole pipeline on offline data for a while and show what landed in PostgreSQL, Redis and Neo4j')
    .option('--duration <seconds>', 'how long live prices are produced', positiveInt, 30)
    .option('--seconds <seconds>', 'same as --duration', positiveInt)
    .option('--verbose', 'show the logs on the terminal (stderr) too; no live view then', false)
    .action(async (opts: { duration: number; seconds?: number; verbose: boolean }) => {
      const loaded = loadDemoConfig();
      // Lag read every second at most, so the live view follows the groups.
      const config: Config = { ...loaded, LAG_REFRESH_SECONDS: Math.min(loaded.LAG_REFRESH_SECONDS, 1) };
      const { logger, logFile } = demoLogger(config, opts.verbose);
      const live = process.stdout.isTTY === true && !opts.verbose;
      const out = createDemoOutput({ out: process.stdout, mode: live ? 'live' : 'plain', logFile: shown(logFile) });
      const say = (m: string) => out.say(m);
      say(`Logs: ${shown(logFile)} (JSON lines${opts.verbose ? '; also on stderr' : '; --verbose shows them here'})`);
      if (!(await stackStatus()).every((s) => s.healthy)) {
        say('Starting the local stack (the first run downloads Kafka and Neo4j and builds the Schema Registry; a few minutes)…');
        await stackUp({ log: (m) => say(`  ${m}`) });
      }
      const kafka = createKafka(config, logger, 'demo');
      const topics = await ensureTopics(kafka, config);
      say(`Topics ready (${topics.created.length} created).`);
      const stats = createStatsReader({ config, metrics: processMetrics(), symbols: config.SYMBOLS });
      out.start(stats);
      try {
        await runDemoPipeline({ config, logger, kafka, durationS: opts.seconds ?? opts.duration, say });
      } finally {
        await out.stop();
        await stats.close();
      }
      printSummary(await readSummary(config, config.SYMBOLS));
      say(`\nLogs of this run: ${shown(logFile)}`);
    });
}

function loadDemoConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** A logger writing JSON lines to a new file under <STACK_DIR>/logs (synchronously: nothing lost on exit); with `verbose` to stderr too. */
function demoLogger(config: Config, verbose: boolean): { logger: Logger; logFile: string } {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const logFile = join(stackPaths(config.STACK_DIR).logs, `demo-${stamp}-${process.pid}.log`);
  const file = pino.destination({ dest: logFile, sync: true, mkdir: true });
  let destination: pino.DestinationStream = file;
  if (verbose) {
    const pretty = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && process.stderr.isTTY === true);
    const terminal = pretty ? PinoPretty({ colorize: true, destination: 2, sync: true }) : pino.destination({ dest: 2, sync: true });
    destination = pino.multistream([{ level: 'trace', stream: file }, { level: 'trace', stream: terminal }]);
  }
  const logger = createLogger({ level: config.LOG_LEVEL, format: 'json', name: 'marketstream-demo',
    destination: destination as unknown as NodeJS.WritableStream });
  return { logger, logFile };
}

/** The path relative to the working directory when it lies below it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
