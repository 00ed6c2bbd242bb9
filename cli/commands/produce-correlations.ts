// `marketstream produce correlations …`: the correlation analyzer (daily closes from PostgreSQL → Pearson on daily
// returns → CORRELATED_WITH upserts/deletes on graph-mutations), hourly by default, or once with --once.
import { type Command, InvalidArgumentError } from 'commander';
import { configSpec } from '../../lib/config.ts';
import { loadContext } from '../context.ts';
import { correlationsJob } from '../../producers/catalog.ts';
import { positiveMinutes, symbolList } from '../options.ts';
import { openPublishing, runUntilStopped } from '../producing.ts';
import { produceCommand } from './produce.ts';

interface CorrelationOptions {
  symbols?: string[];
  allSymbols?: boolean;
  window?: number;
  threshold?: number;
  interval?: number;
  once?: boolean;
}

function windowDays(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2 || n > 3650) throw new InvalidArgumentError('expected an integer between 2 and 3650');
  return n;
}

function threshold(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number between 0 and 1');
  return n;
}

export function registerProduceCorrelations(program: Command): void {
  produceCommand(program).command('correlations')
    .summary('correlated daily returns → CORRELATED_WITH on graph-mutations (hourly)')
    .description('correlate daily returns of the symbols (PostgreSQL price_data; 1d bars, else the last bar of each UTC day) and publish CORRELATED_WITH ' +
      'for pairs with |r| >= threshold to graph-mutations (pairs that fell below: deleted)')
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS)', symbolList)
    .option('--all-symbols', 'every symbol with bars in price_data instead of a list')
    .option('--window <days>', `daily returns in the window (default CORRELATION_WINDOW_DAYS, ${configSpec.CORRELATION_WINDOW_DAYS.default})`, windowDays)
    .option('--threshold <r>', `smallest |r| published (default CORRELATION_THRESHOLD, ${configSpec.CORRELATION_THRESHOLD.default})`, threshold)
    .option('--interval <minutes>', 'minutes between runs (default CORRELATION_POLL_MINUTES)', positiveMinutes)
    .option('--once', 'run once and exit')
    .action(async (opts: CorrelationOptions, cmd: Command) => {
      if (opts.allSymbols && opts.symbols) cmd.error('error: --symbols and --all-symbols exclude each other');
      const { config, logger } = loadContext('correlation-analyzer');
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'produce correlations', clientId: 'correlation-analyzer' })) };
      const job = correlationsJob(ctx, {
        symbols: opts.allSymbols ? 'all' : opts.symbols, windowDays: opts.window, threshold: opts.threshold, intervalMinutes: opts.interval,
      });
      await runUntilStopped({ ...ctx, job, once: opts.once });
    });
}
