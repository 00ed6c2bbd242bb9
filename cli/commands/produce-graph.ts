// `marketstream produce graph …`: the graph producer (company profiles → Company/Sector/Industry nodes and IN_SECTOR /
// IN_INDUSTRY; competitors → COMPETES_WITH), hourly by default, until SIGINT/SIGTERM or once with --once.
import { type Command, Option } from 'commander';
import { createKafka } from '../../lib/kafka.ts';
import { processMetrics } from '../../lib/metrics.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createGraphProducer } from '../../producers/graph-producer.ts';
import { createCompetitorFinder } from '../../producers/graph/competitor-finder.ts';
import { createFileProfileSource, SAMPLE_PROFILES_FILE } from '../../producers/graph/profiles.ts';
import { createYahooProfileSource } from '../../producers/graph/yahoo-profiles.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { loadContext } from '../context.ts';
import { stopOnSignal } from '../lifecycle.ts';
import { startObservability } from '../observability.ts';
import { positiveMinutes, symbolList } from '../options.ts';
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
    .description('publish the company graph to graph-mutations: profiles (name, sector, industry, exchange) → Company, Sector, Industry, IN_SECTOR, IN_INDUSTRY; competitors (Claude, or same-industry peers without ANTHROPIC_API_KEY) → COMPETES_WITH')
    .option('--symbols <list>', 'comma-separated symbols (default SYMBOLS)', symbolList)
    .addOption(new Option('--profiles <source>', 'profile source (default GRAPH_PROFILE_SOURCE)').choices(['file', 'yahoo']))
    .option('--profiles-file <path>', 'JSON profiles file (default GRAPH_PROFILES_FILE, else the bundled sample)')
    .option('--interval <minutes>', 'minutes between runs (default GRAPH_POLL_MINUTES)', positiveMinutes)
    .option('--once', 'run once and exit')
    .action(async (opts: GraphOptions) => {
      const { config, logger } = loadContext('graph-producer');
      const obs = await startObservability({ config, logger, command: 'produce graph' });
      const kafka = createKafka(config, logger, 'graph-producer');
      await ensureTopics(kafka, config);
      const publisher = obs.instrumentPublisher(createPublisher({ kafka, serde: createSerde(config), logger }));
      await publisher.connect();
      const file = createFileProfileSource(opts.profilesFile || config.GRAPH_PROFILES_FILE || SAMPLE_PROFILES_FILE);
      const fromYahoo = (opts.profiles ?? config.GRAPH_PROFILE_SOURCE) === 'yahoo';
      const profiles = fromYahoo ? createYahooProfileSource({}, { logger }) : file;
      const competitors = createCompetitorFinder({ config, logger, onCall: (call) => processMetrics().claudeCall(call) });
      const producer = createGraphProducer({
        config, logger, publisher, profiles, competitors,
        ...(fromYahoo ? { peerProfiles: file } : {}),
        ...(opts.symbols ? { symbols: opts.symbols } : {}),
        ...(opts.interval !== undefined ? { intervalMs: opts.interval * 60_000 } : {}),
      });
      obs.started();
      try {
        if (opts.once) await producer.runOnce();
        else await Promise.race([producer.start(), stopOnSignal(logger, async () => { obs.stopping(); await producer.stop(); })]);
      } finally {
        obs.stopping();
        await competitors.close();
        await profiles.close?.();
        await publisher.disconnect();
        await obs.close();
      }
    });
}
