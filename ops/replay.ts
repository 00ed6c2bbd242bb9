// Replay: move a stopped consumer group's committed offsets on a topic to the earliest or latest offset, to the first
// record at or after a time (Kafka record timestamp), or to explicit partition:offset pairs. Plans first (before/after
// per partition), then applies unless dry-run; refuses while the group has live members.
import type { Admin, Kafka } from 'kafkajs';
import { GroupActiveError, ValidationError } from '../lib/errors.ts';
import { assertGroupStopped, groupState, type GroupState } from './groups.ts';

export type ReplayTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  /** First record whose Kafka timestamp is at or after `at` (epoch ms); the end of the log if none. */
  | { kind: 'time'; at: number }
  /** Explicit offsets for some partitions; the others are left as they are. */
  | { kind: 'offsets'; offsets: ReadonlyMap<number, bigint> };

/** `earliest`, `latest`, an ISO 8601 time (`2026-11-20T09:00:00Z`, `2026-11-20`), or `partition:offset[,partition:offset…]`. */
export function parseReplayTarget(s: string): ReplayTarget {
  const v = s.trim();
  if (v === 'earliest' || v === 'latest') return { kind: v };
  if (/^\d+:\d+(,\d+:\d+)*$/.test(v)) {
    const offsets = new Map<number, bigint>();
    for (const pair of v.split(',')) {
      const [p, o] = pair.split(':') as [string, string];
      if (offsets.has(Number(p))) throw new ValidationError(`partition ${p} is given twice in --to ${s}`);
      offsets.set(Number(p), BigInt(o));
    }
    return { kind: 'offsets', offsets };
  }
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(at)) throw new ValidationError(`--to ${JSON.stringify(s)}: expected earliest, latest, an ISO 8601 time (e.g. 2026-11-20T09:00:00Z) or partition:offset[,partition:offset…]`);
  return { kind: 'time', at };
}

export function describeTarget(t: ReplayTarget): string {
  switch (t.kind) {
    case 'earliest': case 'latest': return t.kind;
    case 'time': return new Date(t.at).toISOString();
    case 'offsets': return [...t.offsets].map(([p, o]) => `${p}:${o}`).join(',');
  }
}

export interface OffsetChange {
  topic: string;
  partition: number;
  /** Committed offset before; null when the group has none (it would start from its reset policy). */
  before: string | null;
  after: string;
  /** Log bounds when planned. */
  earliest: string;
  latest: string;
  /** Records the group will read from `after` to the end of the log. */
  lagAfter: number;
}

export interface ReplayPlan {
  groupId: string;
  target: ReplayTarget;
  state: GroupState;
  changes: OffsetChange[];
}

/** Before/after offsets per partition of each topic, without changing anything. */
export async function planReplay(admin: Admin, o: { groupId: string; topics: readonly string[]; target: ReplayTarget }): Promise<ReplayPlan> {
  const existing = new Set(await admin.listTopics());
  const missing = o.topics.filter((t) => !existing.has(t));
  if (missing.length) throw new ValidationError(`topic(s) not found: ${missing.join(', ')}`);
  const committed = await admin.fetchOffsets({ groupId: o.groupId, topics: [...o.topics] });
  const changes: OffsetChange[] = [];
  for (const topic of o.topics) {
    const bounds = await admin.fetchTopicOffsets(topic);
    const byTime = o.target.kind === 'time' ? new Map((await admin.fetchTopicOffsetsByTimestamp(topic, o.target.at)).map((x) => [x.partition, x.offset])) : null;
    if (o.target.kind === 'offsets') {
      const unknown = [...o.target.offsets.keys()].filter((p) => !bounds.some((b) => b.partition === p));
      if (unknown.length) throw new ValidationError(`${topic} has no partition ${unknown.join(', ')} (it has ${bounds.length})`);
    }
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const b of [...bounds].sort((x, y) => x.partition - y.partition)) {
      const c = mine.find((x) => x.partition === b.partition)?.offset;
      const before = c !== undefined && Number(c) >= 0 ? c : null;
      let after: string;
      switch (o.target.kind) {
        case 'earliest': after = b.low; break;
        case 'latest': after = b.high; break;
        case 'time': after = clamp(byTime?.get(b.partition) ?? b.high, b.low, b.high); break;
        case 'offsets': {
          const want = o.target.offsets.get(b.partition);
          if (want === undefined) continue;
          if (want < BigInt(b.low) || want > BigInt(b.high)) {
            throw new ValidationError(`${topic} partition ${b.partition}: offset ${want} is outside the log (${b.low}..${b.high})`);
          }
          after = want.toString();
          break;
        }
      }
      changes.push({ topic, partition: b.partition, before, after, earliest: b.low, latest: b.high, lagAfter: Number(BigInt(b.high) - BigInt(after)) });
    }
  }
  return { groupId: o.groupId, target: o.target, state: await groupState(admin, o.groupId), changes };
}

export interface ReplayResult extends ReplayPlan { applied: boolean }

/**
 * Plans, then (unless dryRun) commits the new offsets for the group. Throws GroupActiveError while the group has live
 * members (a dry run still answers, with the group's state, so you can see what a replay would do).
 */
export async function replay(kafka: Kafka, o: { groupId: string; topics: readonly string[]; target: ReplayTarget; dryRun?: boolean }): Promise<ReplayResult> {
  if (!o.topics.length) throw new ValidationError(`no topic given for group ${o.groupId} (use --topic)`);
  if (o.target.kind === 'offsets' && o.topics.length > 1) throw new ValidationError(`partition:offset targets one topic; give exactly one --topic (the group reads ${o.topics.join(', ')})`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!o.dryRun) await assertGroupStopped(admin, o.groupId);
    const plan = await planReplay(admin, o);
    if (o.dryRun) return { ...plan, applied: false };
    await applyOffsets(kafka, admin, o.groupId, plan.changes);
    return { ...plan, applied: true };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits `after` for every planned partition, as a short-lived member of the group (what kafkajs admin.setOffsets does,
 * for all topics at once and without its 5 s fetch wait), then reads the offsets back: if another member joined in the
 * meantime, some partitions would not be ours to move, and this throws instead of reporting a partial replay.
 */
export async function applyOffsets(kafka: Kafka, admin: Admin, groupId: string, changes: readonly OffsetChange[]): Promise<void> {
  if (!changes.length) return;
  const topics = [...new Set(changes.map((c) => c.topic))];
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 10_000, heartbeatInterval: 1000, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // The first fetch happens after the seeks were applied (committed: autoCommit is on).
      consumer.on(consumer.events.FETCH, () => resolve());
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => {} }).catch(reject);
      consumer.pause(topics.map((topic) => ({ topic })));
      for (const c of changes) consumer.seek({ topic: c.topic, partition: c.partition, offset: c.after });
    });
  } finally {
    await consumer.disconnect();
  }
  const now = await admin.fetchOffsets({ groupId, topics });
  const wrong = changes.filter((c) => now.find((t) => t.topic === c.topic)?.partitions.find((p) => p.partition === c.partition)?.offset !== c.after);
  if (wrong.length) {
    throw new ValidationError(`offsets of ${groupId} not moved for ${wrong.map((c) => `${c.topic}/${c.partition}`).join(', ')}: did a member join meanwhile? Stop it and run this again`);
  }
}

function clamp(offset: string, low: string, high: string): string {
  const o = BigInt(offset);
  return (o < BigInt(low) ? low : o > BigInt(high) ? high : offset).toString();
}
