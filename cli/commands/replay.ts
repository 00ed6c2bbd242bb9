// `marketstream replay --group G [--topic T…] <target> [--export file.csv] [--dry-run] [--json]`: move a stopped consumer
// group's committed offsets, as kafka-consumer-groups --reset-offsets does, and print them before and after, per
// partition. Targets (exactly one): --to earliest|latest|<ISO time>|<partition:offset,…>, --to-datetime <ISO time>,
// --by-duration <PnDTnHnMnS>, --shift-by <N>, --from-file <file.csv>, --event-time <ISO time>. --export saves the
// group's current offsets first (alone: only that).
import { type Command, InvalidArgumentError } from 'commander';
import { errorMessage, GroupActiveError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { resolveGroup } from '../../ops/groups.ts';
import {
  describeTarget, exportOffsets, isoTime, parseIsoDuration, parseReplayTarget, readOffsetsFile, replay, type OffsetsExport,
    type ReplayResult, type ReplayTarget,
} from '../../ops/replay.ts';
import { loadContext } from '../context.ts';
import { table } from '../inspect/format.ts';
import { signedInteger } from '../options.ts';

const invalidArgument = <T>(parse: (v: string) => T) => (v: string): T => {
  try { return parse(v); } catch (err) { throw new InvalidArgumentError(errorMessage(err)); }
};

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString());

function exportLine(e: OffsetsExport): string {
  const missing = e.withoutOffset.length ? `; no committed offset (not saved): ${e.withoutOffset.join(', ')}` : '';
  return `saved the current offsets of ${e.rows} partition(s) to ${e.file} (topic,partition,offset lines, as kafka-consumer-groups --export)${missing}`;
}

export function formatReplay(r: ReplayResult): string {
  const at = r.at !== undefined && r.target.kind === 'duration' ? ` (${iso(r.at)})` : '';
  const out =
    [`group ${r.groupId} (${r.state.state}, ${r.state.members} member(s)): ${r.applied ? 'moved' : 'would move'} to ${describeTarget(r.target)}${at}`];
  const byEventTime = r.changes.some((c) => c.eventTime);
  const clamped = r.changes.some((c) => c.clamped);
  const head = ['topic', 'partition', 'before', 'after', 'earliest', 'latest', 'to read'];
  if (byEventTime) head.push('scanned', 'first event time ≥ T');
  if (clamped) head.push('note');
  out.push(...table(head, r.changes.map((c) => {
    const row = [c.topic, String(c.partition), c.before ?? '-', c.after, c.earliest, c.latest, c.lagAfter.toLocaleString('en-US')];
    if (byEventTime) row.push(c.eventTime ? c.eventTime.scanned.toLocaleString('en-US') : '0',
      c.eventTime?.match ? iso(c.eventTime.matchEventTime) : 'none: end of log');
    if (clamped) row.push(c.clamped ? `${c.clamped.requested} clamped to ${c.clamped.to}` : '');
    return row;
  }), new Set([2, 3, 4, 5, 6, ...(byEventTime ? [7] : [])])));
  if (r.scan)
    out.push(`scanned ${r.scan.records.toLocaleString('en-US')} record(s) in ${(r.scan.ms / 1000).toFixed(1)} s ` +
    `(${r.scan.recordsPerSecond.toLocaleString('en-US')} records/s)`);
  if (r.exported) out.push(exportLine(r.exported));
  out.push(r.applied ? 'applied: the group resumes from "after" when it starts' : 'dry run: nothing changed');
  return `${out.join('\n')}\n`;
}

interface ReplayOpts {
  group: string;
  topic?: string[];
  to?: ReplayTarget;
  toDatetime?: number;
  byDuration?: string;
  shiftBy?: number;
  fromFile?: string;
  eventTime?: number;
  export?: string;
  dryRun?: boolean;
  json?: boolean;
}

const TARGETS = ['--to', '--to-datetime', '--by-duration', '--shift-by', '--from-file', '--event-time'] as const;

export function registerReplay(program: Command): void {
  program.command('replay')
    .description('move a stopped consumer group\'s offsets (as kafka-consumer-groups --reset-offsets does, and by event time); ' +
      'refused while the group has live members')
    .requiredOption('--group <group>', 'a sink name (postgres, redis, neo4j) or a full consumer group id')
    .option('--topic <topic...>', 'topic(s) to move (default for a sink: every topic it reads; with --from-file: the file\'s)')
    .option('--to <target>', 'earliest, latest, an ISO 8601 time (as --to-datetime), or partition:offset[,partition:offset…]',
      invalidArgument(parseReplayTarget))
    .option('--to-datetime <time>', 'the first record whose Kafka timestamp is at or after an ISO 8601 time (2026-11-20T09:00:00Z)',
      invalidArgument((v) => isoTime(v, '--to-datetime')))
    .option('--by-duration <duration>', 'now minus an ISO 8601 duration PnDTnHnMnS (PT1H, P1D, P1DT2H30M), by Kafka timestamp',
      invalidArgument((v) => (parseIsoDuration(v), v.trim())))
    .option('--shift-by <n>', 'move each partition n records from its committed offset (negative: back), clamped to the log', signedInteger)
    .option('--from-file <file.csv>', 'offsets from a topic,partition,offset CSV (what --export and kafka-consumer-groups --export write)')
    .option('--event-time <time>',
      'each partition from its first record whose event time (a bar\'s start, an article\'s publication, ' +
      'a mutation\'s time) is at or after an ISO 8601 time; reads the partitions to find it', invalidArgument((v) => isoTime(v, '--event-time')))
    .option('--export <file.csv>', 'first save the group\'s current offsets there (topic,partition,offset lines, never overwriting a file); alone: only that')
    .option('--dry-run', 'show what would change without changing it')
    .option('--json', 'print JSON')
    .action(async (opts: ReplayOpts, cmd: Command) => {
      const given = TARGETS.filter((t) => opts[camel(t)] !== undefined);
      if (given.length > 1) cmd.error(`error: give one of ${TARGETS.join(', ')}, not ${given.join(' and ')}`);
      if (!given.length && !opts.export) cmd.error(`error: give one of ${TARGETS.join(', ')} (or --export <file.csv> alone to save the group's offsets)`);
      const { config, logger } = loadContext('replay');
      const group = resolveGroup(config, opts.group);
      const kafka = createKafka(config, logger, 'replay');
      try {
        if (!given.length) {
          const e = await exportOffsets(kafka, { groupId: group.groupId, topics: opts.topic ?? group.topics, file: opts.export! });
          process.stdout.write(opts.json ? `${JSON.stringify(e, null, 2)}\n`
            : `group ${group.groupId} (${e.state.state}, ${e.state.members} member(s)): ${exportLine(e)}\n`);
          return;
        }
        let target: ReplayTarget;
        if (opts.to) target = opts.to;
        else if (opts.toDatetime !== undefined) target = { kind: 'time', at: opts.toDatetime };
        else if (opts.byDuration !== undefined) target = { kind: 'duration', iso: opts.byDuration, ms: parseIsoDuration(opts.byDuration) };
        else if (opts.shiftBy !== undefined) target = { kind: 'shift', by: opts.shiftBy };
        else if (opts.fromFile !== undefined) target = { kind: 'file', file: opts.fromFile, entries: await readOffsetsFile(opts.fromFile, group.groupId) };
        else target = { kind: 'event-time', at: opts.eventTime! };
        const topics = target.kind === 'file' ? opts.topic ?? [] : opts.topic ?? group.topics;
        const result = await replay(kafka, { groupId: group.groupId, topics, target, dryRun: opts.dryRun, exportTo: opts.export, config });
        process.stdout.write(opts.json ? `${JSON.stringify(toJson(result), null, 2)}\n` : formatReplay(result));
      } catch (err) {
        process.stderr.write(`replay ${err instanceof GroupActiveError ? 'refused' : 'failed'}: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}

function camel(option: (typeof TARGETS)[number]): keyof ReplayOpts {
  return option.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof ReplayOpts;
}

function toJson(r: ReplayResult): unknown {
  return { ...r, target: describeTarget(r.target), ...(r.at !== undefined ? { at: iso(r.at) } : {}) };
}
