// `marketstream rebuild postgres|redis|neo4j`: clear a store and replay it from the log (progress, rate, ETA), then
// print what it holds. Refused while the store's consumer group has live members, and when retention has removed
// records whose data the store holds (unless --allow-partial). On a terminal it asks before clearing; without one
// (CI, pipes) it needs --yes.
import { createInterface } from 'node:readline';
import { Argument, type Command, Option } from 'commander';
import { errorMessage, GroupActiveError, RebuildDeclinedError, RetentionLossError } from '../../lib/errors.ts';
import { rebuild, type RebuildPlan, type RebuildResult } from '../../ops/rebuild.ts';
import { sinks, STORES, type StoreName } from '../../consumers/catalog.ts';
import { loadContext } from '../context.ts';
import { progressBar } from '../progress.ts';

export function formatRebuild(r: RebuildResult): string {
  const seconds = (r.ms / 1000).toFixed(1);
  const lines = [
    `${r.completed ? 'rebuilt' : 'stopped before catching up:'} ${sinks[r.sink].name} from ${r.topics.join(', ')}: ` +
      `${r.records.toLocaleString('en-US')} records in ${seconds} s (${r.perSecond.toLocaleString('en-US')}/s)`,
    ...Object.entries(r.counts).map(([what, n]) => `  ${what}: ${n.toLocaleString('en-US')}`),
  ];
  if (r.losses.length) lines.push(`  not brought back (--allow-partial): ${r.losses.map((l) => `${l.count.toLocaleString('en-US')} ${l.what}`).join(', ')}`);
  if (!r.completed) lines.push(`  group ${r.groupId} keeps its progress; \`marketstream consume ${r.sink}\` finishes the replay`);
  return `${lines.join('\n')}\n`;
}

/** "This clears <what> (N rows …) and replays M records from <topics>. Continue? [y/N] " */
export function formatQuestion(p: RebuildPlan): string {
  const held = Object.entries(p.counts).map(([what, n]) => `${n.toLocaleString('en-US')} ${what}`).join(', ') || 'nothing counted';
  const scope = p.scope?.symbols ? ` for ${p.scope.symbols.join(', ')}` : '';
  const lost = p.losses.length
    ? ` ${p.losses.map((l) => `${l.count.toLocaleString('en-US')} ${l.what}`).join(', ')} will not come back (--allow-partial).` : '';
  return `This clears the ${p.sink} store${scope} (${held}) and replays ${p.records.toLocaleString('en-US')} records from ${p.topics.join(', ')}.` +
    `${lost} Continue? [y/N] `;
}

/** Asks on `output`, reads one line from `input`: true only for y/yes. End of input or Ctrl-C count as no. */
export function askYesNo(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, output, terminal: Boolean((input as { isTTY?: boolean }).isTTY) });
    let answered = false;
    const done = (yes: boolean) => {
      if (answered) return;
      answered = true;
      rl.close();
      resolve(yes);
    };
    rl.on('SIGINT', () => { output.write('\n'); done(false); });
    rl.on('close', () => done(false));
    rl.question(question, (answer) => done(/^y(es)?$/i.test(answer.trim())));
  });
}

export function registerRebuild(program: Command): void {
  program.command('rebuild')
    .description('clear a store and replay it from the log: holds the sink\'s group (no other member can write meanwhile), rewinds it to earliest, ' +
      'clears what it materialized (never the enricher cache), runs it until caught up')
    .addArgument(new Argument('<store>', 'the store to rebuild').choices(STORES))
    .option('--symbols <list>', 'clear only these symbols\' data (the whole log is still replayed; the sinks\' upserts leave the rest as it is)',
      (v: string) => v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .option('--yes', 'do not ask before clearing (required without a terminal)')
    .option('--allow-partial', 'rebuild even when retention has removed records whose data the store holds; that data is lost')
    .addOption(new Option('--json', 'print the result as JSON'))
    .action(async (store: StoreName, opts: { symbols?: string[]; yes?: boolean; allowPartial?: boolean; json?: boolean }) => {
      if (!opts.yes && !process.stdin.isTTY) {
        process.stderr.write(`rebuild refused: it clears the ${store} store, and there is no terminal to confirm on; pass --yes to rebuild without asking\n`);
        process.exitCode = 1;
        return;
      }
      const { config, logger } = loadContext('rebuild');
      const bar = progressBar('records');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const result = await rebuild({
          config, logger, sink: store, signal: stop.signal, scope: opts.symbols ? { symbols: opts.symbols } : undefined,
          allowPartial: opts.allowPartial,
          confirm: opts.yes ? undefined : (plan) => askYesNo(formatQuestion(plan), process.stdin, process.stderr),
          onProgress: (p) => bar.update(p.done, p.total, p.perSecond),
        });
        bar.stop();
        process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatRebuild(result));
        if (!result.completed) process.exitCode = 1;
      } catch (err) {
        bar.stop();
        const refused = err instanceof GroupActiveError || err instanceof RetentionLossError;
        process.stderr.write(err instanceof RebuildDeclinedError ? `${errorMessage(err)}\n`
          : `rebuild ${refused ? 'refused' : 'failed'}: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
