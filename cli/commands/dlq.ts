// `marketstream dlq stats|list|redrive`: what is in the dead-letter topics, and sending dead letters back to their
// topic once the cause is fixed.
import { type Command, InvalidArgumentError } from 'commander';
import { errorMessage, GroupActiveError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { listDlq } from '../../ops/dlq/list.ts';
import { describeBound, parseBound, redrive, type Bound, type RedriveResult } from '../../ops/dlq/redrive.ts';
import { dlqStats, type DlqStats } from '../../ops/dlq/stats.ts';
import { configuredDlqTopics, dlqTopicName } from '../../ops/dlq/topics.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import { loadContext } from '../context.ts';
import { formatRecord, recordJson, table } from '../inspect/format.ts';
import { positiveInt } from '../options.ts';

const n = (x: number) => x.toLocaleString('en-US');

function isoTime(v: string): number {
  const b = bound(v);
  if (b.kind !== 'time') throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2026-11-20T09:00:00Z');
  return b.at;
}

function bound(v: string): Bound {
  try { return parseBound(v); } catch (err) { throw new InvalidArgumentError(errorMessage(err)); }
}

function counts(title: string, m: Record<string, number>): string[] {
  return table([title, 'records'], Object.entries(m).map(([k, v]) => [k, n(v)]), new Set([1]), '    ');
}

export function formatStats(stats: DlqStats[]): string {
  const out: string[] = [];
  for (const s of stats) {
    if (!s.exists) { out.push(`${s.topic}: no such topic`, ''); continue; }
    out.push(`${s.topic}  ${n(s.records)} record(s)${s.records ? `  oldest ${s.oldest}  newest ${s.newest}` : ''}`);
    if (s.records) out.push(...counts('error class', s.byErrorClass), ...counts('from group', s.byGroup));
    out.push('');
  }
  return out.join('\n');
}

const REASONS: Record<string, string> = {
  'max-redrives': 'redriven DLQ_MAX_REDRIVES times already',
  'value-dropped': 'value dropped (too large for the DLQ)',
  'no-original-topic': 'no original-topic header',
  'other-topic': 'original-topic names another topic (a DLQ is redriven only to its own topic)',
  'never-published': 'rejected by a producer before publishing (fix the input and produce it again)',
  'bad-redrive-count': 'redrive-count header is not a number',
};

export function formatRedrive(r: RedriveResult): string {
  const out = [`${r.topic} (group ${r.groupId}): ${r.dryRun ? 'would send' : 'sent'} ${n(r.sent)} record(s) back, refused ${n(r.refused)}`];
  if (r.sent) out.push(...counts('original topic', r.byOriginalTopic), ...counts('error class', r.byErrorClass));
  for (const [reason, count] of Object.entries(r.refusedByReason)) {
    out.push(`  refused ${n(count!)}: ${REASONS[reason] ?? reason}${reason === 'max-redrives' ? ` (${r.maxRedrives})` : ''}`);
  }
  for (const x of r.refusedRecords) out.push(`    ${r.topic}/${x.partition}@${x.offset}  key=${x.key ?? '(null)'}  ${x.errorClass}  ${x.reason}` +
    `${x.redriveCount ? `  redrive-count=${x.redriveCount}` : ''}${x.reason === 'other-topic' ? `  original-topic=${x.originalTopic}` : ''}`);
  if (r.refused > r.refusedRecords.length) out.push(`    … and ${n(r.refused - r.refusedRecords.length)} more`);
  if (r.notSelected) out.push(`  left for a later redrive: ${n(r.notSelected)} not selected by the filters`);
  for (const [t, c] of Object.entries(r.missingTopic)) out.push(`  left for a later redrive: ${n(c)} whose original topic ${t} does not exist`);
  if (r.alreadyRedriven) out.push(`  skipped ${n(r.alreadyRedriven)} handled by an earlier redrive`);
  out.push(...table(['partition', 'position before', 'after', 'log end'],
    r.positions.map((p) => [String(p.partition), p.before, p.after, p.end]), new Set([1, 2, 3])));
  if (r.incomplete) out.push(`stopped early: ${r.incomplete}`);
  out.push(r.dryRun ? 'dry run: nothing sent, nothing committed' : 'done: the group remembers the position, so running it again sends nothing twice');
  return `${out.join('\n')}\n`;
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('dead-letter topics: counts, records, and redrive after a fix');

  dlq.command('stats')
    .description('per DLQ topic: records, by error class and by source group (producer when a producer rejected it), oldest and newest failure')
    .option('--topic <topic>', 'one DLQ topic (or its main topic); default: every configured topic\'s .dlq')
    .option('--json', 'print JSON')
    .action(async (opts: { topic?: string; json?: boolean }) => {
      const { config, logger } = loadContext('dlq');
      try {
        const stats = await dlqStats(createKafka(config, logger, 'dlq'), config, opts.topic ? [dlqTopicName(opts.topic)] : configuredDlqTopics(config));
        process.stdout.write(opts.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStats(stats));
        if (opts.topic && !stats[0]?.exists) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`dlq stats failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });

  dlq.command('list')
    .description('dead letters decoded, with their error headers (like inspect tail)')
    .requiredOption('--topic <topic>', 'DLQ topic (or its main topic)')
    .option('--last <n>', 'the last N records (default 10)', positiveInt)
    .option('--from <time>', 'records at or after this ISO 8601 time', isoTime)
    .option('--error-class <class...>', 'only these error classes (DecodeError, ValidationError, …)')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { topic: string; last?: number; from?: number; errorClass?: string[]; json?: boolean }) => {
      const { config, logger } = loadContext('dlq');
      const topic = dlqTopicName(opts.topic);
      try {
        const { records } = await listDlq(createKafka(config, logger, 'dlq'), config, createRecordDecoder(config), {
          topic, last: opts.last, from: opts.from, errorClasses: opts.errorClass,
          onRecord: (r) => process.stdout.write(opts.json ? `${recordJson(r)}\n` : `${formatRecord(r)}\n\n`),
        });
        if (!opts.json && records === 0) process.stderr.write(`no records in ${topic} for this selection\n`);
      } catch (err) {
        process.stderr.write(`dlq list failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });

  dlq.command('redrive')
    .description('send dead letters back to their original topic (original key, bytes and headers, redrive-count + 1); remembers how far it got')
    .requiredOption('--topic <topic>', 'DLQ topic (or its main topic)')
    .option('--error-class <class...>', 'only these error classes')
    .option('--key <key...>', 'only these record keys')
    .option('--from <offset|time>', 'only records at or after this offset or ISO 8601 time (record timestamp)', bound)
    .option('--to <offset|time>', 'only records at or before this offset or ISO 8601 time', bound)
    .option('--dry-run', 'show what would be sent, per original topic and error class, and what would be refused; sends and commits nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { topic: string; errorClass?: string[]; key?: string[]; from?: Bound; to?: Bound; dryRun?: boolean; json?: boolean }) => {
      const { config, logger } = loadContext('dlq');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const result = await redrive(createKafka(config, logger, 'dlq'), config, logger, {
          topic: dlqTopicName(opts.topic), errorClasses: opts.errorClass, keys: opts.key, from: opts.from, to: opts.to,
            dryRun: opts.dryRun, signal: stop.signal,
        });
        const selection = { from: opts.from && describeBound(opts.from), to: opts.to && describeBound(opts.to), errorClasses: opts.errorClass, keys: opts.key };
        process.stdout.write(opts.json ? `${JSON.stringify({ ...result, selection }, null, 2)}\n` : formatRedrive(result));
      } catch (err) {
        process.stderr.write(err instanceof GroupActiveError
          ? `dlq redrive refused: another redrive of this topic is running (group ${err.groupId} has ${err.members} live member(s))\n`
          : `dlq redrive failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
