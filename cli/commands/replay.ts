// `marketstream replay --group G [--topic T…] --to earliest|latest|<ISO time>|<partition:offset,…> [--dry-run] [--json]`:
// move a stopped consumer group's committed offsets and print them before and after, per partition.
import { type Command, InvalidArgumentError } from 'commander';
import { errorMessage, GroupActiveError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { resolveGroup } from '../../ops/groups.ts';
import { describeTarget, parseReplayTarget, replay, type ReplayResult, type ReplayTarget } from '../../ops/replay.ts';
import { loadContext } from '../context.ts';
import { table } from '../inspect/format.ts';

function target(v: string): ReplayTarget {
  try { return parseReplayTarget(v); } catch (err) { throw new InvalidArgumentError(errorMessage(err)); }
}

export function formatReplay(r: ReplayResult): string {
  const out = [`group ${r.groupId} (${r.state.state}, ${r.state.members} member(s)): ${r.applied ? 'moved' : 'would move'} to ${describeTarget(r.target)}`];
  out.push(...table(['topic', 'partition', 'before', 'after', 'earliest', 'latest', 'to read'],
    r.changes.map((c) => [c.topic, String(c.partition), c.before ?? '-', c.after, c.earliest, c.latest, c.lagAfter.toLocaleString('en-US')]),
    new Set([2, 3, 4, 5, 6])));
  out.push(r.applied ? 'applied: the group resumes from "after" when it starts' : 'dry run: nothing changed');
  return `${out.join('\n')}\n`;
}

export function registerReplay(program: Command): void {
  program.command('replay')
    .description('rewind (or fast-forward) a stopped consumer group; refused while the group has live members')
    .requiredOption('--group <group>', 'a sink name (postgres, redis, neo4j) or a full consumer group id')
    .option('--topic <topic...>', 'topic(s) to move (default for a sink: every topic it reads)')
    .requiredOption('--to <target>', 'earliest, latest, an ISO 8601 time (first record at or after it), or partition:offset[,partition:offset…]', target)
    .option('--dry-run', 'show what would change without changing it')
    .option('--json', 'print JSON')
    .action(async (opts: { group: string; topic?: string[]; to: ReplayTarget; dryRun?: boolean; json?: boolean }) => {
      const { config, logger } = loadContext('replay');
      const group = resolveGroup(config, opts.group);
      const topics = opts.topic ?? group.topics;
      try {
        const result = await replay(createKafka(config, logger, 'replay'), { groupId: group.groupId, topics, target: opts.to, dryRun: opts.dryRun });
        process.stdout.write(opts.json ? `${JSON.stringify({ ...result, target: describeTarget(result.target) }, null, 2)}\n` : formatReplay(result));
      } catch (err) {
        process.stderr.write(`replay ${err instanceof GroupActiveError ? 'refused' : 'failed'}: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}
