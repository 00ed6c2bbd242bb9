// `marketstream enrich reclassify [--classifier rules|claude|any] [--since <ISO>] [--model <id>] [--symbols A,B]
// [--limit N] [--dry-run] [--json]`: ask Claude about events the rule-based classifier (or another model) classified,
// within the enricher group's shared hourly budget; prints how many events and the estimated cost first.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { errorMessage } from '../../lib/errors.ts';
import { reclassify, type ReclassifyPlan, type ReclassifyResult } from '../../ops/enrich/reclassify.ts';
import { loadContext } from '../context.ts';
import { positiveInt, symbolList } from '../options.ts';
import { progressBar } from '../progress.ts';

const n = (x: number) => x.toLocaleString('en-US');
const usd = (x: number) => `$${x < 0.01 && x > 0 ? x.toFixed(6).replace(/0+$/, '') : x.toFixed(2)}`;

function isoTime(v: string): number {
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim()) ? Date.parse(v.trim()) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2026-11-20 or 2026-11-20T09:00:00Z');
  return at;
}

const FROM_TEXT = { rules: 'classified by the rules', claude: 'classified by another Claude model',
  any: 'classified by the rules or another Claude model' } as const;

export function formatPlan(p: ReclassifyPlan): string {
  const s = p.selection;
  const scope: string[] = [FROM_TEXT[s.from]];
  if (s.since !== undefined) scope.push(`published since ${new Date(s.since).toISOString()}`);
  if (s.symbols?.length) scope.push(`about ${s.symbols.join(', ')}`);
  if (p.limit !== null) scope.push(`newest ${n(p.limit)} at most`);
  const { limits, used } = p.budget;
  const budget = [
    limits.tokensPerHour > 0 ? `${n(used.tokens)} of ${n(limits.tokensPerHour)} tokens` : `${n(used.tokens)} tokens (no token limit)`,
    limits.costUsdPerHour > 0 ? `${usd(used.costUsd)} of ${usd(limits.costUsdPerHour)}` : `${usd(used.costUsd)} (no cost limit)`,
  ].join(', ');
  return [
    `${n(p.events)} event(s) to ask ${s.model} about (now by the rules: ${n(p.byClassifier.rules)}, by another Claude model: ${n(p.byClassifier.claude)})`,
    `  selection: ${scope.join('; ')}`,
    `  estimated cost: at most ${usd(p.estimate.costUsd)} (${n(p.estimate.inputTokens)} input + at most ${n(p.estimate.outputTokens)} output tokens at ` +
      `${usd(p.price.input)}/${usd(p.price.output)} per million tokens` +
      `${p.priceKnown ? '' : ', the highest known price: this model is not in the price table'})`,
    `  hourly budget shared by ${p.budget.scope}: ${budget} spent in the last hour`,
  ].join('\n');
}

export function formatReclassify(r: ReclassifyResult): string {
  const lines = [formatPlan(r.plan)];
  if (r.dryRun) {
    lines.push('dry run: Claude was asked nothing');
    return `${lines.join('\n')}\n`;
  }
  if (r.plan.events === 0) {
    lines.push('nothing to ask');
    return `${lines.join('\n')}\n`;
  }
  lines.push(`reclassified ${n(r.reclassified)} event(s) with ${r.plan.selection.model} (event_classifications, market_events, ` +
    `${n(r.mutations)} graph mutation(s)); ${n(r.failed.length)} failed; ${n(r.left)} left`);
  lines.push(`  spent: ${n(r.spent.requests)} request(s), ${n(r.spent.tokens)} tokens, ${usd(r.spent.costUsd)}`);
  if (r.skipped) lines.push(`  ${n(r.skipped)} event(s) were reclassified meanwhile by another run`);
  for (const f of r.failed.slice(0, 10)) lines.push(`  not answered: ${f.eventId}: ${f.reason}`);
  if (r.failed.length > 10) lines.push(`  … and ${n(r.failed.length - 10)} more`);
  if (r.stoppedBy === 'budget') lines.push(`stopped: the hourly budget is spent; run it again later for the ${n(r.left)} left`);
  if (r.stoppedBy === 'circuit-open') lines.push(`stopped: Claude keeps failing (circuit open); run it again later for the ${n(r.left)} left`);
  if (r.stoppedBy === 'signal') lines.push(`stopped on request; run it again for the ${n(r.left)} left`);
  return `${lines.join('\n')}\n`;
}

export function registerEnrich(program: Command): void {
  const enrich = program.command('enrich').description('operations on the enricher\'s classifications');
  enrich.command('reclassify')
    .description('ask Claude about events the rule-based classifier (or another Claude model) classified, within the enricher group\'s hourly budget; ' +
      'updates the cache, market_events and the graph')
    .addOption(new Option('--classifier <who>',
      'whose classifications to ask about again (default: rules; with --model: any)').choices(['rules', 'claude', 'any']))
    .option('--since <time>', 'only events published at or after this ISO 8601 time', isoTime)
    .option('--model <id>', 'the Claude model to ask (default ANTHROPIC_MODEL); classifications by another model are selected too')
    .option('--symbols <list>', 'only events naming one of these symbols', symbolList)
    .option('--limit <n>', 'at most this many events (the newest)', positiveInt)
    .option('--dry-run', 'print how many events and the estimated cost; ask nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { classifier?: 'rules' | 'claude' | 'any'; since?: number; model?: string; symbols?: string[]; limit?: number;
      dryRun?: boolean; json?: boolean }) => {
      const { config, logger } = loadContext('enrich');
      const bar = progressBar('events');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const result = await reclassify({
          config, logger, signal: stop.signal, dryRun: opts.dryRun,
          ...(opts.classifier ? { from: opts.classifier } : {}), ...(opts.model ? { model: opts.model } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}), ...(opts.symbols ? { symbols: opts.symbols } : {}),
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          onProgress: (p) => bar.update(p.done, p.total, p.perSecond),
        });
        bar.stop();
        process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatReclassify(result));
        if (result.failed.length || result.stoppedBy) process.exitCode = 1;
      } catch (err) {
        bar.stop();
        process.stderr.write(`enrich reclassify failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
