// Terminal rendering of `inspect topics|groups|tail`: aligned tables and one compact block per record.
import { jsonSafe, type DecodedValue } from '../../ops/inspect/decode.ts';
import type { GroupView } from '../../ops/inspect/groups.ts';
import type { TailRecord } from '../../ops/inspect/tail.ts';
import type { TopicView } from '../../ops/inspect/topics.ts';

const DAY_MS = 86_400_000;
const retention = (ms: number | null) => (ms === null ? '-' : ms < 0 ? 'forever' : ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : `${(ms / 3_600_000).toFixed(1)}h`);
const n = (x: number) => x.toLocaleString('en-US');

/** Rows as columns padded to their widest cell; columns listed in `right` are right-aligned. */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set(), indent = '  '): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => indent + cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatTopics(topics: TopicView[], missing: string[] = []): string {
  const out: string[] = [];
  for (const t of topics) {
    out.push(`${t.name}  ${t.partitions.length} partition(s)  retention ${retention(t.retentionMs)}  cleanup ` +
      `${t.cleanupPolicy ?? '-'}  ${n(t.records)} record(s)`);
    out.push(...table(['partition', 'leader', 'replicas', 'isr', 'earliest', 'latest', 'records'],
      t.partitions.map((p) => [String(p.partition), String(p.leader), p.replicas.join(','), p.isr.join(','), p.earliest, p.latest, n(p.records)]),
      new Set([4, 5, 6])));
    out.push('');
  }
  for (const m of missing) out.push(`${m}: no such topic`, '');
  if (!topics.length && !missing.length) out.push('no topics (run `marketstream topics create`, or use --all)', '');
  return out.join('\n');
}

/** Lag in seconds as a cell: `0`, `12.3`, `-` when unknown. */
const secondsCell = (s: number | null) => (s === null ? '-' : s === 0 ? '0' : s < 100 ? s.toFixed(1) : n(Math.round(s)));

export function formatGroups(groups: GroupView[]): string {
  const out: string[] = [];
  for (const g of groups) {
    out.push(`${g.groupId}  ${g.state}  ${g.members.length} member(s)  lag ${n(g.totalLag)} (${secondsCell(g.lagSeconds)} s)`);
    for (const m of g.members) {
      const assigned = Object.entries(m.assignment).map(([t, ps]) => `${t}[${ps.join(',')}]`).join(' ') || '(no partitions)';
      out.push(`  member ${m.clientId} ${m.host} ${m.memberId.slice(-12)}  ${assigned}`);
    }
    if (g.partitions.length) {
      const owner = (topic: string, partition: number) => g.members.find((m) => m.assignment[topic]?.includes(partition))?.memberId.slice(-12) ?? '-';
      out.push(...table(['topic', 'partition', 'committed', 'latest', 'lag', 'lag s', 'member'],
        g.partitions.map((p) => [p.topic, String(p.partition), p.committed === null ? '-' : String(p.committed), String(p.latest), n(p.lag),
          secondsCell(p.lagSeconds), owner(p.topic, p.partition)]),
        new Set([2, 3, 4, 5])));
    } else out.push('  no committed offsets on the topics looked at (use --topic <name> to add one)');
    out.push('');
  }
  if (!groups.length) out.push('no consumer groups (use --all to list every group)', '');
  return out.join('\n');
}

export function formatValue(v: DecodedValue): string {
  switch (v.kind) {
    case 'tombstone': return 'tombstone (null value)';
    case 'avro': return JSON.stringify(jsonSafe(v.value));
    case 'json': return `${JSON.stringify(v.value)} (JSON, not Avro)`;
    case 'raw': return `undecodable (${v.error})`;
  }
}

function schemaLabel(v: DecodedValue): string {
  if (v.kind !== 'avro') return '';
  const s = v.schema;
  return `  schema ${s.id}${s.subject ? ` (${s.subject} v${s.version})` : ''}`;
}

export function formatRecord(r: TailRecord): string {
  const lines = [`${r.topic}/${r.partition}@${r.offset}  ${r.timestamp}  key=${r.key ?? '(null)'}${schemaLabel(r.value)}`];
  if (r.dlq) {
    const d = r.dlq;
    lines.push(`  error    ${d.errorClass ?? '?'}: ${d.errorMessage ?? '?'}`);
    lines.push(`  from     ${d.originalTopic ?? '?'}` +
      `${d.originalPartition !== null ? `/${d.originalPartition}@${d.originalOffset}` : ' (rejected before publishing)'}` +
      `${d.consumerGroup ? `  group ${d.consumerGroup}` : ''}${d.failedAt ? `  at ${d.failedAt}` : ''}`);
  }
  const dlqKeys = new Set(['error-class', 'error-message', 'original-topic', 'original-partition', 'original-offset', 'consumer-group', 'failed-at']);
  const headers = Object.entries(r.headers).filter(([k]) => !r.dlq || !dlqKeys.has(k)).map(([k, v]) => `${k}=${v}`).join('  ');
  if (headers) lines.push(`  headers  ${headers}`);
  if (r.dlq?.raw) lines.push(`  raw      ${r.dlq.raw.bytes} bytes  hex ${r.dlq.raw.hex}${r.dlq.raw.bytes > 64 ? ' …' : ''}`,
    `           utf8 ${r.dlq.raw.utf8}`);
  lines.push(`  value    ${formatValue(r.value)}`);
  return lines.join('\n');
}

/** A TailRecord as one JSON line. */
export function recordJson(r: TailRecord): string {
  return JSON.stringify(jsonSafe(r));
}
