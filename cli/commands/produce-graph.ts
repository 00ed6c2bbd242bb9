// `marketstream produce graph …`: the graph producer (company profiles → Company/Sector/Industry nodes and IN_SECTOR /
// IN_INDUSTRY; competitors → COMPETES_WITH), hourly by default, until SIGINT/SIGTERM or once with --once.
import { type Command, Option } from 'commander';
import { loadContext } from '../context.ts';
import { graphJob } from '../../producers/catalog.ts';
import { positiveMinutes, symbolList } from '../options.ts';
import { openPublishing, runUntilStopped } from '../producing.ts';
import { produceCommand } from './produce.ts';

interface GraphOptions {
  symbols?: string[];
  profiles?: 'file' | 'yahoo';
  profilesFile?: string;
  interval?: number;
  once?: boolean;
}

export function registerProduceGraph(program: Command): void {
  produceCommand(program).command('graph')
    .summary('company profiles and competitors → graph-mutations (hourly)')
    .description('publish the company graph to graph-mutations: profiles (name, sector, industry, exchange) → Company, Sector, Industry, ' +
      'IN_SECTOR, IN_INDUSTRY; competitors (Claude, or same-industry peers without ANTHROPIC_API_KEY) → COMPETES_WITH')
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS)', symbolList)
    .addOption(new Option('--profiles <source>', 'profile source (default GRAPH_PROFILE_SOURCE)').choices(['file', 'yahoo']))
    .option('--profiles-file <path>', 'JSON profiles file (default GRAPH_PROFILES_FILE, else the bundled sample)')
    .option('--interval <minutes>', 'minutes between runs (default GRAPH_POLL_MINUTES)', positiveMinutes)
    .option('--once', 'run once and exit')
    .action(async (opts: GraphOptions) => {
      const { config, logger } = loadContext('graph-producer');
      const ctx = { config, logger, ...(await openPublishing({ config, logger, command: 'produce graph', clientId: 'graph-producer' })) };
      const job = graphJob(ctx, { symbols: opts.symbols, profiles: opts.profiles, profilesFile: opts.profilesFile, intervalMinutes: opts.interval });
      await runUntilStopped({ ...ctx, job, once: opts.once });
    });
}
