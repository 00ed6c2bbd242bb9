// `marketstream rebuild postgres|redis|neo4j`: clear a store and replay it from the log (progress, rate, ETA), then
// print what it holds. Refused while the store's consumer group has live members.
import { Argument, type Command, Option } from 'commander';
import { errorMessage, GroupActiveError } from '../../lib/errors.ts';

import { rebuild, type RebuildResult } from '../../ops/rebuild.ts';
import { sinks, STORES, type StoreName } from '../../consumers/registry.ts';
import { loadContext } from '../context.ts';
import { progressBar } from '../progress.ts';

export function formatRebuild(r: RebuildResult): string {
  const seconds = (r.ms / 1000).toFixed(1);
  const lines = [
    `${r.completed ? 'rebuilt' : 'stopped before catching up:'} ${sinks[r.sink].name} from ${r.topics.join(', ')}: ${r.records.toLocaleString('en-US')} records in ${seconds} s (${r.perSecond.toLocaleString('en-US')}/s)`,
    ...Object.entries(r.counts).map(([what, n]) => `  ${what}: ${n.toLocaleString('en-US')}`),
  ];
  if (!r.completed) lines.push(`  group ${r.groupId} keeps its progress; \`marketstream consume ${r.sink}\` finishes the replay`);
  return `${lines.join('\n')}\n`;
}

export function registerRebuild(program: Command): void {
  program.command('rebuild')
    .description('clear a store and replay it from the log: rewinds the sink\'s group to earliest, clears what it materialized (never the enricher cache), runs it until caught up')
    .addArgument(new Argument('<store>', 'the store to rebuild').choices(STORES))
    .option('--symbols <list>', 'clear only these symbols\' data (the whole log is still replayed; the sinks\' upserts leave the rest as it is)', (v: string) => v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .addOption(new Option('--json', 'print the result as JSON'))
    .action(async (store: StoreName, opts: { symbols?: string[]; json?: boolean }) => {
      const { config, logger } = loadContext('rebuild');
      const bar = progressBar('records');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const result = await rebuild({
          config, logger, sink: store, signal: stop.signal, scope: opts.symbols ? { symbols: opts.symbols } : undefined,
          onProgress: (p) => bar.update(p.done, p.total, p.perSecond),
        });
        bar.stop();
        process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatRebuild(result));
        if (!result.completed) process.exitCode = 1;
      } catch (err) {
        bar.stop();
        process.stderr.write(`rebuild ${err instanceof GroupActiveError ? 'refused' : 'failed'}: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
