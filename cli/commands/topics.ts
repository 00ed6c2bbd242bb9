// `marketstream topics create|describe`: apply the topics of topics/index.ts (with their DLQs) and show their state.
import type { Command } from 'commander';
import { loadContext } from '../context.ts';
import { createKafka } from '../../lib/kafka.ts';
import { describeTopics, ensureTopics, type TopicDescription } from '../../topics/admin.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

const days = (ms: number | null) => (ms === null ? '-' : ms < 0 ? 'forever' : `${(ms / DAY_MS).toFixed(ms % DAY_MS ? 2 : 0)}d`);

export function formatDescriptions(topics: TopicDescription[]): string {
  const lines: string[] = [];
  for (const t of topics) {
    if (!t.exists) {
      lines.push(`${t.name}: missing (run \`marketstream topics create\`)`, '');
      continue;
    }
    const replication = t.partitions[0]?.replicas.length ?? 0;
    const isrDrift = t.expected.minInsyncReplicas !== undefined && t.minInsyncReplicas !== t.expected.minInsyncReplicas;
    const drift = t.retentionMs !== t.expected.retentionMs || t.cleanupPolicy !== t.expected.cleanupPolicy || isrDrift
      ? `  (code asks for ${days(t.expected.retentionMs)}, ${t.expected.cleanupPolicy}` +
        `${t.expected.minInsyncReplicas === undefined ? '' : `, min ISR ${t.expected.minInsyncReplicas}`})` : '';
    // A partition with fewer in-sync replicas than min.insync.replicas refuses acks=all sends.
    const short = t.minInsyncReplicas === null ? [] : t.partitions.filter((p) => p.isr.length < t.minInsyncReplicas!).map((p) => p.partition);
    lines.push(`${t.name}: ${t.partitions.length} partitions, replication ${replication}, min ISR ${t.minInsyncReplicas ?? '-'}, ` +
      `retention ${days(t.retentionMs)}, cleanup ${t.cleanupPolicy ?? '-'}, ${t.records} records${drift}`);
    if (short.length) lines.push(`  partition(s) ${short.join(',')} have fewer in-sync replicas than min ISR: sends to them fail until a replica catches up`);
    lines.push(`  ${'partition'.padEnd(10)}${'leader'.padEnd(8)}${'replicas'.padEnd(10)}${'isr'.padEnd(10)}${'earliest'.padStart(12)}${'latest'.padStart(12)}`);
    for (const p of t.partitions) {
      lines.push(`  ${String(p.partition).padEnd(10)}${String(p.leader).padEnd(8)}${p.replicas.join(',').padEnd(10)}${p.isr.join(',').padEnd(10)}` +
        `${p.earliest.padStart(12)}${p.latest.padStart(12)}`);
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('Create and describe the Kafka topics (each with its .dlq)');

  topics.command('create')
    .description('Create missing topics and DLQs with their settings (partitions, replication, min ISR, retention, cleanup policy); ' +
      'existing ones are left alone')
    .action(async () => {
      const { config, logger } = loadContext('topics');
      const kafka = createKafka(config, logger, 'admin');
      try {
        const { created, existing } = await ensureTopics(kafka, config);
        for (const name of created) process.stdout.write(`created  ${name}\n`);
        for (const name of existing) process.stdout.write(`exists   ${name}\n`);
      } catch (err) {
        process.stderr.write(`topics create failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });

  topics.command('describe')
    .description('Partitions, leaders, replicas and in-sync replicas, earliest/latest offsets, retention, cleanup policy and min ISR of every topic and DLQ')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const { config, logger } = loadContext('topics');
      const kafka = createKafka(config, logger, 'admin');
      try {
        const described = await describeTopics(kafka, config);
        process.stdout.write(opts.json ? `${JSON.stringify(described, null, 2)}\n` : formatDescriptions(described));
        if (described.some((t) => !t.exists)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`topics describe failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    });
}
