// Replay: move a stopped consumer group's committed offsets, as kafka-consumer-groups --reset-offsets does, and by event
// time. Targets: earliest or latest; the first record at or after a time by Kafka timestamp (--to-datetime, --to <ISO>),
// or at now minus a duration (--by-duration); a shift of N records per partition (--shift-by, clamped to the log);
// explicit partition:offset pairs; a kafka-consumer-groups offsets CSV (--from-file); and the first record whose
// *event time* (the record's own time: a bar's start, an article's publication) is at or after T (--event-time, found by
// reading the partitions: ops/replay/event-time.ts). Plans first (before/after per partition), can save the current
// offsets first (--export, the same CSV), then applies unless dry-run; refuses while the group has live members.
import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import { OffsetsFileError, ValidationError } from '../lib/errors.ts';
import { joinIdle } from '../lib/records.ts';
import { createSerde } from '../lib/serde.ts';
import { assertGroupStopped, groupState, type GroupState } from './groups.ts';
import { contractOf, scanEventTime, type EventTimeScan } from './replay/event-time.ts';
import { formatOffsetsCsv, writeOffsetsFile, type OffsetsFileEntry } from './replay/offsets-csv.ts';
import { parseIsoTime } from './replay/times.ts';

export { parseIsoDuration, isoTime } from './replay/times.ts';
export { readOffsetsFile, parseOffsetsCsv, formatOffsetsCsv } from './replay/offsets-csv.ts';

export type ReplayTarget =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  /** First record whose Kafka timestamp is at or after `at` (epoch ms); the end of the log if none. */
  | { kind: 'time'; at: number }
  /** Like `time`, at now minus `ms` when planned (`iso`: the duration as given). */
  | { kind: 'duration'; ms: number; iso: string }
  /** The committed offset plus `by` (negative: back), clamped to the log; every partition needs a committed offset. */
  | { kind: 'shift'; by: number }
  /** Explicit offsets for some partitions; the others are left as they are. */
  | { kind: 'offsets'; offsets: ReadonlyMap<number, bigint> }
  /** Offsets from a kafka-consumer-groups CSV file: the partitions it lists, of the topics it names. */
  | { kind: 'file'; file: string; entries: readonly OffsetsFileEntry[] }
  /** First record whose event time (see ops/replay/event-time.ts) is at or after `at`; the end of the log if none. */
  | { kind: 'event-time'; at: number };

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
  const at = parseIsoTime(v);
  if (at === null)
    throw new ValidationError(`--to ${JSON.stringify(s)}: expected earliest, latest, an ISO 8601 time (e.g. 2026-11-20T09:00:00Z) or ` +
    `partition:offset[,partition:offset…]`);
  return { kind: 'time', at };
}

export function describeTarget(t: ReplayTarget): string {
  switch (t.kind) {
    case 'earliest': case 'latest': return t.kind;
    case 'time': return new Date(t.at).toISOString();
    case 'duration': return `${t.iso} ago`;
    case 'shift': return `shift by ${t.by}`;
    case 'offsets': return [...t.offsets].map(([p, o]) => `${p}:${o}`).join(',');
    case 'file': return `offsets from ${t.file}`;
    case 'event-time': return `event time ${new Date(t.at).toISOString()}`;
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
  /** What the target asked for, when the log bounds changed it (a shift clamped to the log, like Kafka's). */
  clamped?: { requested: string; to: 'earliest' | 'latest' };
  /** An event-time target: how the partition was scanned and the record found (none: `after` is the end of the log). */
  eventTime?: Omit<EventTimeScan, 'partition'>;
}

export interface ReplayPlan {
  groupId: string;
  target: ReplayTarget;
  /** The time a `time`, `duration` or `event-time` target resolved to (epoch ms). */
  at?: number;
  state: GroupState;
  changes: OffsetChange[];
  /** An event-time target: records read and decoded over all partitions, and how long that took. */
  scan?: { records: number; ms: number; recordsPerSecond: number };
}

/** What an event-time target needs beyond the admin client: a consumer to read the partitions, the registry to decode. */
export interface ReplayDeps { kafka: Kafka; config: Config }

/** The topics a target moves: a file's own (restricted to `topics` when given), else `topics`. */
export function targetTopics(target: ReplayTarget, topics: readonly string[]): string[] {
  if (target.kind !== 'file') return [...topics];
  return [...new Set(target.entries.map((e) => e.topic))];
}

/** Before/after offsets per partition of each topic, without changing anything. */
export async function planReplay(admin: Admin, o: { groupId: string; topics: readonly string[]; target: ReplayTarget },
  deps?: ReplayDeps): Promise<ReplayPlan> {
  const target = o.target;
  const existing = new Set(await admin.listTopics());
  if (target.kind === 'file') validateFileTopics(target, o.topics, existing);
  const topics = targetTopics(target, o.topics);
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length) throw new ValidationError(`topic(s) not found: ${missing.join(', ')}`);
  if (target.kind === 'event-time' && !deps)
    throw new ValidationError('an event-time replay needs the configuration (registry) and a Kafka client to read the topics');
  const at = target.kind === 'time' || target.kind === 'event-time' ? target.at : target.kind === 'duration' ? Date.now() - target.ms : undefined;
  const committed = await admin.fetchOffsets({ groupId: o.groupId, topics });
  const serde = target.kind === 'event-time' ? createSerde(deps!.config) : null;
  const changes: OffsetChange[] = [];
  const badLines: Array<{ line: number; text: string; reason: string }> = [];
  let scanned: { records: number; ms: number } | undefined;
  for (const topic of topics) {
    const bounds = [...await admin.fetchTopicOffsets(topic)].sort((x, y) => x.partition - y.partition);
    const byTime = at !== undefined && target.kind !== 'event-time'
      ? new Map((await admin.fetchTopicOffsetsByTimestamp(topic, at)).map((x) => [x.partition, x.offset])) : null;
    if (target.kind === 'offsets') {
      const unknown = [...target.offsets.keys()].filter((p) => !bounds.some((b) => b.partition === p));
      if (unknown.length) throw new ValidationError(`${topic} has no partition ${unknown.join(', ')} (it has ${bounds.length})`);
    }
    if (target.kind === 'file') {
      for (const e of target.entries.filter((x) => x.topic === topic && !bounds.some((b) => b.partition === x.partition))) {
        badLines.push({ line: e.line, text: e.text, reason: `${topic} has no partition ${e.partition} (it has ${bounds.length}: 0..${bounds.length - 1})` });
      }
    }
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    const committedOf = (p: number) => {
      const c = mine.find((x) => x.partition === p)?.offset;
      return c !== undefined && Number(c) >= 0 ? c : null;
    };
    if (target.kind === 'shift') {
      const none = bounds.filter((b) => committedOf(b.partition) === null).map((b) => b.partition);
      if (none.length)
        throw new ValidationError(`cannot shift ${topic} partition(s) ${none.join(', ')}: group ${o.groupId} has no committed offset there (move it with ` +
        `--to earliest|latest or --to-datetime first)`);
    }
    let scan: Map<number, EventTimeScan> | null = null;
    if (target.kind === 'event-time' && bounds.some((b) => BigInt(b.high) > BigInt(b.low))) {
      const r = await scanEventTime(deps!.kafka, admin,
        { config: deps!.config, serde: serde!, topic: await contractOf(deps!.config, topic), at: target.at, bounds });
      scan = new Map(r.partitions.map((p) => [p.partition, p]));
      scanned = { records: (scanned?.records ?? 0) + r.records, ms: (scanned?.ms ?? 0) + r.ms };
    }
    for (const b of bounds) {
      const before = committedOf(b.partition);
      let after: string;
      let clamped: OffsetChange['clamped'];
      let eventTime: OffsetChange['eventTime'];
      switch (target.kind) {
        case 'earliest': after = b.low; break;
        case 'latest': after = b.high; break;
        case 'time': case 'duration': after = clamp(byTime?.get(b.partition) ?? b.high, b.low, b.high); break;
        case 'shift': {
          const want = BigInt(before!) + BigInt(target.by);
          after = clamp(want.toString(), b.low, b.high);
          if (after !== want.toString()) clamped = { requested: want.toString(), to: want < BigInt(b.low) ? 'earliest' : 'latest' };
          break;
        }
        case 'offsets': {
          const want = target.offsets.get(b.partition);
          if (want === undefined) continue;
          if (want < BigInt(b.low) || want > BigInt(b.high)) {
            throw new ValidationError(`${topic} partition ${b.partition}: offset ${want} is outside the log (${b.low}..${b.high})`);
          }
          after = want.toString();
          break;
        }
        case 'file': {
          const e = target.entries.find((x) => x.topic === topic && x.partition === b.partition);
          if (!e) continue;
          if (e.offset < BigInt(b.low) || e.offset > BigInt(b.high)) {
            badLines.push({ line: e.line, text: e.text,
              reason: `offset ${e.offset} is outside the log of ${topic} partition ${b.partition} (${b.low}..${b.high})` });
            continue;
          }
          after = e.offset.toString();
          break;
        }
        case 'event-time': {
          const s = scan?.get(b.partition);
          after = s?.match ?? b.high;
          if (s) eventTime = { from: s.from, scanned: s.scanned, match: s.match, matchEventTime: s.matchEventTime, byTimestamp: s.byTimestamp };
          break;
        }
      }
      changes.push({
        topic, partition: b.partition, before, after, earliest: b.low, latest: b.high, lagAfter: Number(BigInt(b.high) - BigInt(after)),
        ...(clamped ? { clamped } : {}), ...(eventTime ? { eventTime } : {}),
      });
    }
  }
  if (target.kind === 'file' && badLines.length) throw new OffsetsFileError(target.file, badLines.sort((x, y) => x.line - y.line));
  const scan = scanned ? { ...scanned, recordsPerSecond: scanned.ms > 0 ? Math.round(scanned.records / (scanned.ms / 1000)) : 0 } : undefined;
  return { groupId: o.groupId, target, ...(at !== undefined ? { at } : {}), state: await groupState(admin, o.groupId), changes, ...(scan ? { scan } : {}) };
}

/** A file's lines for a topic that does not exist, or (when topics are given) that is not one of them. */
function validateFileTopics(target: Extract<ReplayTarget, { kind: 'file' }>, topics: readonly string[], existing: ReadonlySet<string>): void {
  const bad = target.entries.flatMap((e) => {
    if (!existing.has(e.topic)) return [{ line: e.line, text: e.text, reason: `topic ${e.topic} does not exist` }];
    if (topics.length && !topics.includes(e.topic))
      return [{ line: e.line, text: e.text, reason: `topic ${e.topic} is not one of --topic ${topics.join(', ')}` }];
    return [];
  });
  if (bad.length) throw new OffsetsFileError(target.file, bad);
}

export interface OffsetsExport {
  file: string;
  /** Partitions written, with the group's committed offset. */
  rows: number;
  /** Partitions of the topics where the group has no committed offset: not written (there is nothing to restore). */
  withoutOffset: string[];
}

/**
 * The group's committed offsets on every partition of `topics`, as kafka-consumer-groups' CSV (topic,partition,offset
 * lines), sorted by topic and partition; partitions without a committed offset are left out (and listed).
 */
export async function currentOffsetsCsv(admin: Admin, groupId: string,
  topics: readonly string[]): Promise<{ csv: string; rows: number; withoutOffset: string[] }> {
  const rows: Array<{ topic: string; partition: number; offset: string }> = [];
  const withoutOffset: string[] = [];
  for (const t of await admin.fetchOffsets({ groupId, topics: [...topics] })) {
    for (const p of [...t.partitions].sort((a, b) => a.partition - b.partition)) {
      if (Number(p.offset) >= 0) rows.push({ topic: t.topic, partition: p.partition, offset: p.offset });
      else withoutOffset.push(`${t.topic}/${p.partition}`);
    }
  }
  rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { csv: formatOffsetsCsv(rows), rows: rows.length, withoutOffset };
}

/** Writes the group's current offsets on `topics` to `file` (never overwriting one): what `--export` alone does. */
export async function exportOffsets(kafka: Kafka,
  o: { groupId: string; topics: readonly string[]; file: string }): Promise<OffsetsExport & { state: GroupState }> {
  if (!o.topics.length) throw new ValidationError(`no topic given for group ${o.groupId} (use --topic)`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = o.topics.filter((t) => !existing.has(t));
    if (missing.length) throw new ValidationError(`topic(s) not found: ${missing.join(', ')}`);
    const { csv, rows, withoutOffset } = await currentOffsetsCsv(admin, o.groupId, o.topics);
    await writeOffsetsFile(o.file, csv);
    return { file: o.file, rows, withoutOffset, state: await groupState(admin, o.groupId) };
  } finally {
    await admin.disconnect();
  }
}

export interface ReplayResult extends ReplayPlan {
  applied: boolean;
  /** With `exportTo`: the offsets saved before anything changed. */
  exported?: OffsetsExport;
}

export interface ReplayOptions {
  groupId: string;
  /** Topics to move; for a `file` target, the topics its lines may name (empty: any). */
  topics: readonly string[];
  target: ReplayTarget;
  dryRun?: boolean;
  /** Save the group's current offsets on the topics there first (kafka-consumer-groups CSV), also in a dry run. */
  exportTo?: string;
  /** Needed by an event-time target (registry, Kafka client config, group prefix of the scan). */
  config?: Config;
}

/**
 * Plans, saves the current offsets when asked, then (unless dryRun) commits the new offsets for the group. Throws
 * GroupActiveError while the group has live members (a dry run still answers, with the group's state, so you can see
 * what a replay would do).
 */
export async function replay(kafka: Kafka, o: ReplayOptions): Promise<ReplayResult> {
  if (!o.topics.length && o.target.kind !== 'file') throw new ValidationError(`no topic given for group ${o.groupId} (use --topic)`);
  if (o.target.kind === 'offsets' && o.topics.length > 1)
    throw new ValidationError(`partition:offset targets one topic; give exactly one --topic (the group reads ${o.topics.join(', ')})`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!o.dryRun) await assertGroupStopped(admin, o.groupId);
    const plan = await planReplay(admin, o, o.config ? { kafka, config: o.config } : undefined);
    // An event-time scan can take a while: a member that joined meanwhile must not have its offsets pulled from under it.
    if (!o.dryRun && plan.scan) await assertGroupStopped(admin, o.groupId);
    let exported: OffsetsExport | undefined;
    if (o.exportTo) {
      const { csv, rows, withoutOffset } = await currentOffsetsCsv(admin, o.groupId, targetTopics(o.target, o.topics));
      await writeOffsetsFile(o.exportTo, csv);
      exported = { file: o.exportTo, rows, withoutOffset };
    }
    if (o.dryRun) return { ...plan, applied: false, ...(exported ? { exported } : {}) };
    await applyOffsets(kafka, admin, o.groupId, plan.changes);
    return { ...plan, applied: true, ...(exported ? { exported } : {}) };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits `after` for every planned partition, as a short-lived member of the group (lib/records joinIdle: what kafkajs
 * admin.setOffsets does, for all topics at once and without its 5 s fetch wait), then reads the offsets back: if another
 * member joined in the meantime, some partitions would not be ours to move, and this throws instead of reporting a partial replay.
 */
export async function applyOffsets(kafka: Kafka, admin: Admin, groupId: string, changes: readonly OffsetChange[]): Promise<void> {
  if (!changes.length) return;
  const topics = [...new Set(changes.map((c) => c.topic))];
  const member = await joinIdle(kafka, { groupId, topics });
  try {
    // Only partitions this member was assigned: one owned by a member that joined meanwhile is left for the check below.
    const mine = changes.filter((c) => member.assignment()[c.topic]?.includes(c.partition));
    await member.commit(mine.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.after })));
  } finally {
    await member.leave();
  }
  const now = await admin.fetchOffsets({ groupId, topics });
  const wrong = changes.filter((c) => now.find((t) => t.topic === c.topic)?.partitions.find((p) => p.partition === c.partition)?.offset !== c.after);
  if (wrong.length) {
    throw new ValidationError(`offsets of ${groupId} not moved for ${wrong.map((c) => `${c.topic}/${c.partition}`).join(', ')}: ` +
      `did a member join meanwhile? Stop it and run this again`);
  }
}

function clamp(offset: string, low: string, high: string): string {
  const o = BigInt(offset);
  return (o < BigInt(low) ? low : o > BigInt(high) ? high : offset).toString();
}
