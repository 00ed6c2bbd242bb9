// `marketstream inspect topics|groups|tail`: what kafka-ui shows, in a terminal (or as JSON for scripts).
import { type Command, InvalidArgumentError } from 'commander';
import type { Admin } from 'kafkajs';
import { errorMessage } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createRecordPeek, type RecordPeek } from '../../lib/records.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import { inspectGroups } from '../../ops/inspect/groups.ts';
import { tail } from '../../ops/inspect/tail.ts';
import { inspectTopics } from '../../ops/inspect/topics.ts';
import { loadContext, type Context } from '../context.ts';
import { formatGroups, formatRecord, formatTopics, recordJson } from '../inspect/format.ts';
import { positiveInt } from '../options.ts';

function isoTime(v: string): number {
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected an ISO 8601 time, e.g. 2026-11-20T09:00:00Z');
  return t;
}

/** Runs an inspect action with an admin client (and a record peek, for lag in seconds); failures print one line and exit 1. */
async function withAdmin(ctx: Context, what: string, fn: (admin: Admin, peek: RecordPeek) => Promise<void>): Promise<void> {
  const kafka = createKafka(ctx.config, ctx.logger, 'inspect');
  const admin = kafka.admin();
  const peek = createRecordPeek(kafka);
  try {
    await admin.connect();
    await fn(admin, peek);
  } catch (err) {
    process.stderr.write(`inspect ${what} failed: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  } finally {
    await peek.close();
    await admin.disconnect();
  }
}

export function registerInspect(program: Command): void {
  const inspect = program.command('inspect').description('topics, consumer groups and records, in a terminal');

  inspect.command('topics')
    .description('partitions, leaders, earliest/latest offsets, retention and cleanup policy (default: the configured topics and DLQs)')
    .argument('[topics...]', 'topic names')
    .option('--all', 'every topic of the cluster (internal ones excepted)')
    .option('--json', 'print JSON')
    .action(async (names: string[], opts: { all?: boolean; json?: boolean }) => {
      const ctx = loadContext('inspect');
      await withAdmin(ctx, 'topics', async (admin) => {
        const { topics, missing } = await inspectTopics(admin, ctx.config, { names, all: opts.all });
        process.stdout.write(opts.json ? `${JSON.stringify({ topics, missing }, null, 2)}\n` : formatTopics(topics, missing));
        if (missing.length) process.exitCode = 1;
      });
    });

  inspect.command('groups')
    .description('consumer groups: state, members and their partitions, committed offset, lag and lag in seconds (the age of the oldest unconsumed ' +
      'record) per partition (default: groups under KAFKA_GROUP_PREFIX)')
    .argument('[groups...]', 'sink names (postgres, redis, neo4j) or group ids')
    .option('--all', 'every consumer group of the cluster')
    .option('--topic <topic...>', 'also look at these topics (Kafka cannot list the topics an idle group committed on)')
    .option('--json', 'print JSON')
    .action(async (names: string[], opts: { all?: boolean; topic?: string[]; json?: boolean }) => {
      const ctx = loadContext('inspect');
      await withAdmin(ctx, 'groups', async (admin, peek) => {
        const groups = await inspectGroups(admin, ctx.config, { names, all: opts.all, topics: opts.topic, peek });
        process.stdout.write(opts.json ? `${JSON.stringify(groups, null, 2)}\n` : formatGroups(groups));
      });
    });

  inspect.command('tail')
    .description('decoded records of a topic with key, partition, offset, timestamp, headers, schema id and version; ' +
      'DLQ records with their error and raw bytes')
    .argument('<topic>', 'topic name, e.g. price-updates or price-updates.dlq')
    .option('--from <time>', 'records at or after this ISO 8601 time', isoTime)
    .option('--last <n>', 'the last N records over all partitions (default 10)', positiveInt)
    .option('--follow', 'keep printing new records until Ctrl-C')
    .option('--json', 'one JSON object per line')
    .action(async (topic: string, opts: { from?: number; last?: number; follow?: boolean; json?: boolean }) => {
      const { config, logger } = loadContext('inspect');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const { records } = await tail(createKafka(config, logger, 'inspect'), config, createRecordDecoder(config), {
          topic, from: opts.from, last: opts.last, follow: opts.follow, signal: stop.signal,
          onRecord: (r) => process.stdout.write(opts.json ? `${recordJson(r)}\n` : `${formatRecord(r)}\n\n`),
        });
        if (!opts.json && records === 0) process.stderr.write(`no records in ${topic} for this range\n`);
      } catch (err) {
        process.stderr.write(`inspect tail failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
