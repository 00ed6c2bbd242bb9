// Reading Kafka records outside the sinks, and group members that read nothing: the one place (besides the sinks'
// runner and the publisher) that creates kafkajs consumers.
//
// readLog is the bounded reader every tool and test uses: given ranges of partitions (from an offset, a time, the
// earliest, or a group's committed offsets; to the end offsets taken when the ranges were planned, or open), it reads
// them in offset order with a short fetch wait, and stops cleanly at the end of every range, when its caller says so
// (after a count, say), on a signal or after a timeout. It reads with a throwaway consumer group that never commits and is
// deleted when the read ends (also on error), unless it is given a group of the caller's own to read (and commit) as.
// joinIdle is a member of a group that owns partitions and reads nothing (paused), for committing offsets as the group
// or holding it; groupConsumer is a plain consumer with this module's settings, for tests that need a member as such.
// createRecordPeek reads the timestamp of the record at an offset without any group (lag in seconds).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Admin, Consumer, ConsumerConfig, ConsumerGroupJoinEvent, Kafka, KafkaMessage, PartitionAssigner } from 'kafkajs';
import { GroupActiveError } from './errors.ts';

/** How long a fetch waits for records (kafkajs' default is 5 s; a disconnect waits for the fetch in flight). */
export const FETCH_WAIT_MS = 100;
/** A short session: a member whose process died leaves its group this soon. */
export const SESSION_TIMEOUT_MS = 10_000;

/** Offsets [start, end) of one partition; end null: no end (read until stopped). */
export interface LogRange { topic: string; partition: number; start: bigint; end: bigint | null }

export interface PartitionBounds { partition: number; low: string; high: string }

/** Where ranges start: the earliest record, a Kafka timestamp (epoch ms), the last N records, or a group's committed offsets. */
export type ReadFrom = 'earliest' | { time: number } | { last: number } | { group: string };

/** The range of one partition from `start` (clamped to the partition's records), to its current end or open. */
export function planRange(topic: string, b: PartitionBounds, start: bigint | null, to: 'end' | 'open' = 'end'): LogRange {
  const low = BigInt(b.low);
  const high = BigInt(b.high);
  const s = start === null ? high : start < low ? low : start > high ? high : start;
  return { topic, partition: b.partition, start: s, end: to === 'end' ? high : null };
}

/** Start offsets per partition for `from`, given the bounds and (for a time or a group) the broker's answer. */
export function startOffsets(from: ReadFrom, bounds: readonly PartitionBounds[], looked: ReadonlyMap<number, string> = new Map()): Map<number, bigint | null> {
  return new Map(bounds.map((b) => {
    if (from === 'earliest') return [b.partition, BigInt(b.low)];
    if ('last' in from) return [b.partition, BigInt(b.high) - BigInt(from.last)];
    const o = looked.get(b.partition);
    if ('group' in from) return [b.partition, o === undefined || BigInt(o) < 0n ? BigInt(b.low) : BigInt(o)];
    return [b.partition, o === undefined ? null : BigInt(o)];
  }));
}

/** The ranges of `topic` (all partitions, or those given) from `from` to the end offsets now, or open. */
export async function topicRanges(admin: Admin, topic: string, o: { from?: ReadFrom; to?: 'end' | 'open'; partitions?: readonly number[] } = {},
): Promise<LogRange[]> {
  const from = o.from ?? 'earliest';
  const bounds = (await admin.fetchTopicOffsets(topic))
    .filter((b) => !o.partitions || o.partitions.includes(b.partition))
    .sort((a, b) => a.partition - b.partition);
  let looked = new Map<number, string>();
  if (typeof from === 'object' && 'time' in from) {
    looked = new Map((await admin.fetchTopicOffsetsByTimestamp(topic, from.time)).map((x) => [x.partition, x.offset]));
  }
  if (typeof from === 'object' && 'group' in from) {
    const committed = (await admin.fetchOffsets({ groupId: from.group, topics: [topic] }))[0]?.partitions ?? [];
    looked = new Map(committed.map((c) => [c.partition, c.offset]));
  }
  const starts = startOffsets(from, bounds, looked);
  return bounds.map((b) => planRange(topic, b, starts.get(b.partition)!, o.to));
}

const rangeKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Which records of the ranges are still to be delivered (no I/O). Bounded, a range is done once read to its end (or
 * finished by the caller); following, records past the end are delivered too and the ranges are only "caught up".
 */
export class RangeProgress {
  private readonly ranges = new Map<string, LogRange & { next: bigint; done: boolean }>();
  private count = 0;
  private readonly o: { follow?: boolean };
  constructor(ranges: readonly LogRange[], o: { follow?: boolean } = {}) {
    this.o = o;
    for (const r of ranges) {
      const empty = r.end !== null && r.start >= r.end;
      if (empty && !o.follow) continue;
      this.ranges.set(rangeKey(r.topic, r.partition), { ...r, next: r.start, done: false });
    }
  }

  /** The ranges still to read, with the offset to read next. */
  pending(): Array<LogRange & { next: bigint }> {
    return [...this.ranges.values()].filter((r) => !r.done);
  }

  /** Whether the record at `offset` is to be delivered now; 'past' once the partition has nothing more to deliver. */
  wants(topic: string, partition: number, offset: bigint): boolean | 'past' {
    const r = this.ranges.get(rangeKey(topic, partition));
    if (!r || r.done) return 'past';
    if (!this.o.follow && r.end !== null && offset >= r.end) return 'past';
    return offset >= r.next;
  }

  /** The record at `offset` was handled. */
  delivered(topic: string, partition: number, offset: bigint): void {
    const r = this.ranges.get(rangeKey(topic, partition))!;
    r.next = offset + 1n;
    this.count++;
    if (!this.o.follow && r.end !== null && r.next >= r.end) r.done = true;
  }

  /** A fetched batch ended at `lastOffset` (its last offset, records or markers): a bounded range it passed is done. */
  batchEnd(topic: string, partition: number, lastOffset: bigint): void {
    const r = this.ranges.get(rangeKey(topic, partition));
    if (!r) return;
    if (lastOffset + 1n > r.next) r.next = lastOffset + 1n;
    if (!this.o.follow && r.end !== null && r.next >= r.end) r.done = true;
  }

  /** The caller needs nothing more from this partition. */
  finish(topic: string, partition: number): void {
    const r = this.ranges.get(rangeKey(topic, partition));
    if (r) r.done = true;
  }

  isDone(topic: string, partition: number): boolean {
    return this.ranges.get(rangeKey(topic, partition))?.done ?? true;
  }

  get records(): number { return this.count; }
  /** Every range done (never while following). */
  get complete(): boolean { return this.pending().length === 0; }
  /** Every range read up to the end it had when planned. */
  get caughtUp(): boolean { return [...this.ranges.values()].every((r) => r.done || r.end === null || r.next >= r.end); }
}

export interface ReadControl {
  /** Nothing more is wanted from this partition (it is paused); the read ends when no range is left. */
  finish(topic: string, partition: number): void;
  /** Ends the read after the current record (the batch's onBatchEnd still runs; it may stop the read too). */
  stop(): void;
  /** Commits offsets as the reading group (a group of the caller's own: see ReadGroup). */
  commit(offsets: ReadonlyArray<{ topic: string; partition: number; offset: string; metadata?: string | null }>): Promise<void>;
}

/** A throwaway group (never commits on its own, deleted afterwards), or a group of the caller's own (kept). */
export type ReadGroup = { throwaway: string } | { own: string };

/** A throwaway group id: `<prefix>.<purpose>-<random>`. */
export function throwawayGroup(prefix: string, purpose: string): ReadGroup {
  return { throwaway: `${prefix}.${purpose}-${randomUUID().slice(0, 8)}` };
}

export interface ReadOptions {
  ranges: readonly LogRange[];
  group: ReadGroup;
  /** Each record of the ranges, in offset order per partition. A throw ends the read with that error. */
  onRecord(m: KafkaMessage, at: { topic: string; partition: number }, ctl: ReadControl): Promise<void> | void;
  /**
   * After the records a fetched batch delivered (not after a failure, an abort or a timeout). `covered`, when every
   * record of the batch was delivered: the offsets it spans, first to last. Those among them no record was delivered for
   * hold none a reader sees (a transaction's commit or abort marker, an aborted record): a reader that keeps a position
   * may move past them.
   */
  onBatchEnd?(at: { topic: string; partition: number }, ctl: ReadControl, covered?: { first: bigint; last: bigint }): Promise<void>;
  /** Keep reading past the ends (until the signal); onCaughtUp is called once every range reached its end. */
  follow?: boolean;
  onCaughtUp?(): void;
  /** End (ended: 'timeout') after this long. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Longer for callers whose records take long to handle (default SESSION_TIMEOUT_MS). */
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
}

export type ReadEnd = 'end' | 'stopped' | 'timeout' | 'aborted';
export interface ReadResult { records: number; ended: ReadEnd }

export interface GroupState { state: string; members: number }

export async function groupState(admin: Admin, groupId: string): Promise<GroupState> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  return { state: g?.state ?? 'Dead', members: g?.members.length ?? 0 };
}

/** A kafkajs consumer with this module's fetch wait and session timeout, for a group member the caller runs itself. */
export function groupConsumer(kafka: Kafka, o: Partial<ConsumerConfig> & { groupId: string }): Consumer {
  const sessionTimeout = o.sessionTimeout ?? SESSION_TIMEOUT_MS;
  const heartbeatInterval = Math.min(1000, sessionTimeout / 10);
  return kafka.consumer({ sessionTimeout, heartbeatInterval, maxWaitTimeInMs: FETCH_WAIT_MS, allowAutoTopicCreation: false, ...o });
}

type Where = { topic: string; partition: number };

interface Reading {
  progress: RangeProgress;
  consumer: Consumer;
  admin: Admin;
  groupId: string;
  /** Set once deliveries stop (the batch's onBatchEnd still runs); `settled` once the read's outcome is decided. */
  ending?: ReadEnd;
  settled: boolean;
  /** onCaughtUp was called. */
  notified: boolean;
  settle(outcome: ReadEnd | { error: unknown }): void;
}

/** Reads the ranges (see the file's head); resolves with how it ended, rejects with a handler's error or the consumer's crash. */
export async function readLog(kafka: Kafka, o: ReadOptions): Promise<ReadResult> {
  const progress = new RangeProgress(o.ranges, o);
  if (o.signal?.aborted) return { records: 0, ended: 'aborted' };
  if (!o.follow && progress.complete) return { records: 0, ended: 'end' };
  const groupId = 'own' in o.group ? o.group.own : o.group.throwaway;
  const consumer = groupConsumer(kafka, {
    groupId,
    ...(o.sessionTimeoutMs ? { sessionTimeout: o.sessionTimeoutMs } : {}),
    ...(o.maxBytesPerPartition ? { maxBytesPerPartition: o.maxBytesPerPartition } : {}),
  });
  const admin = kafka.admin();
  let outcome!: (r: ReadEnd | { error: unknown }) => void;
  const ended = new Promise<ReadEnd | { error: unknown }>((resolve) => { outcome = resolve; });
  const r: Reading = {
    progress, consumer, admin, groupId, settled: false, notified: false,
    settle: (x) => {
      if (r.settled) return;
      r.settled = true;
      r.ending ??= 'stopped';
      outcome(x);
    },
  };
  /** The batch being handled: a caller's send and commit in it finish before the group is left (a stop or signal
   * mid-batch would otherwise lose that commit, and a redrive would send the record again next time). */
  let inFlight: Promise<void> = Promise.resolve();
  const abort = () => r.settle('aborted');
  o.signal?.addEventListener('abort', abort, { once: true });
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => r.settle('timeout'), o.timeoutMs);
  consumer.on(consumer.events.CRASH, ({ payload }) => r.settle({ error: payload.error }));
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => onJoin(r, o, payload));
  // A fetch that returned only a transaction's commit or abort marker (or aborted records: the DLQ is written in
  // transactions) reaches no eachBatch; kafkajs reports it here, and its last offset counts toward the range's end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize !== 0 || r.settled || r.ending) return;
    const at = { topic: payload.topic, partition: payload.partition };
    if (progress.isDone(at.topic, at.partition)) return;
    const covered = { first: BigInt(payload.firstOffset ?? payload.lastOffset), last: BigInt(payload.lastOffset) };
    inFlight = inFlight.then(() => endBatch(r, o, at, covered, async () => undefined));
  });
  try {
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(o.ranges.map((x) => x.topic))], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatch: ({ batch, heartbeat, isRunning, isStale }) => (inFlight = (async () => {
      const at = { topic: batch.topic, partition: batch.partition };
      if (progress.isDone(at.topic, at.partition)) return; // not read, or already read (a fetch that was in flight)
      if (await deliver(r, o, at, batch.messages, () => isRunning() && !isStale())) {
        await endBatch(r, o, at, { first: BigInt(batch.firstOffset() ?? batch.lastOffset()), last: BigInt(batch.lastOffset()) }, heartbeat);
      }
    })()) });
    const x = await ended;
    if (typeof x === 'object') throw x.error;
    return { records: progress.records, ended: x };
  } finally {
    r.settle('stopped');
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', abort);
    await inFlight.catch(() => {});
    await consumer.disconnect().catch(() => {});
    if ('throwaway' in o.group) await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

function control(r: Reading): ReadControl {
  return {
    finish(topic, partition) {
      r.progress.finish(topic, partition);
      r.consumer.pause([{ topic, partitions: [partition] }]);
      if (r.progress.complete) r.ending ??= 'end';
    },
    stop() { r.ending ??= 'stopped'; },
    commit: (offsets) => r.consumer.commitOffsets(offsets.map((x) => ({ ...x, metadata: x.metadata ?? null }))),
  };
}

/** At every (re)join: read each pending range from where it is, pause what is not wanted; another member holding a range fails the read. */
function onJoin(r: Reading, o: ReadOptions, payload: ConsumerGroupJoinEvent['payload']): void {
  const mine = payload.memberAssignment;
  const pending = r.progress.pending();
  if (pending.some((x) => !(mine[x.topic] ?? []).includes(x.partition))) {
    groupState(r.admin, r.groupId).then(
      (s) => r.settle({ error: new GroupActiveError(r.groupId, s.state, s.members) }),
      (error: unknown) => r.settle({ error }),
    );
    return;
  }
  for (const [topic, partitions] of Object.entries(mine) as Array<[string, number[]]>) {
    const idle = partitions.filter((p) => r.progress.isDone(topic, p));
    if (idle.length) r.consumer.pause([{ topic, partitions: idle }]);
  }
  for (const x of pending) r.consumer.seek({ topic: x.topic, partition: x.partition, offset: x.next.toString() });
  if (o.follow && r.progress.caughtUp) caughtUp(r, o);
}

function caughtUp(r: Reading, o: ReadOptions): void {
  if (r.notified) return;
  r.notified = true;
  o.onCaughtUp?.();
}

/** Hands the batch's wanted records to onRecord; false when the batch is not to be ended (the read failed or ended meanwhile). */
async function deliver(r: Reading, o: ReadOptions, at: Where, messages: KafkaMessage[], live: () => boolean): Promise<boolean> {
  const ctl = control(r);
  for (const m of messages) {
    if (r.ending || !live()) return !r.settled && live();
    const offset = BigInt(m.offset);
    const wanted = r.progress.wants(at.topic, at.partition, offset);
    if (wanted === 'past') break;
    if (!wanted) continue;
    try {
      await o.onRecord(m, at, ctl);
    } catch (error) {
      r.settle({ error });
      return false;
    }
    r.progress.delivered(at.topic, at.partition, offset);
  }
  return !r.settled && live();
}

async function endBatch(r: Reading, o: ReadOptions, at: Where, covered: { first: bigint; last: bigint }, heartbeat: () => Promise<void>): Promise<void> {
  const whole = !r.ending;
  if (whole) r.progress.batchEnd(at.topic, at.partition, covered.last);
  try {
    await o.onBatchEnd?.(at, control(r), whole ? covered : undefined);
  } catch (error) {
    r.settle({ error });
    return;
  }
  if (r.progress.isDone(at.topic, at.partition)) r.consumer.pause([{ topic: at.topic, partitions: [at.partition] }]);
  if (r.progress.complete && !o.follow) r.ending ??= 'end';
  if (o.follow && r.progress.caughtUp) caughtUp(r, o);
  if (r.ending) { r.settle(r.ending); return; }
  await heartbeat();
}

export interface IdleMember {
  /** The partitions per topic this member was given at its latest (re)join. */
  assignment(): Readonly<Record<string, readonly number[]>>;
  /** Commits offsets as this member (the broker checks the group generation: a member evicted meanwhile is refused). */
  commit(offsets: ReadonlyArray<{ topic: string; partition: number; offset: string }>): Promise<void>;
  /** Leaves the group (its partitions go to the other members). */
  leave(): Promise<void>;
}

export interface IdleMemberOptions {
  groupId: string;
  topics: readonly string[];
  partitionAssigners?: PartitionAssigner[];
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  /** Called at every (re)join, after its partitions were paused. */
  onJoin?(payload: ConsumerGroupJoinEvent['payload']): void;
  onCrash?(error: Error): void;
  onStop?(): void;
}

/** Joins the group with a member that owns its assigned partitions of `topics` and reads nothing (paused); resolves once joined. */
export async function joinIdle(kafka: Kafka, o: IdleMemberOptions): Promise<IdleMember> {
  const consumer = groupConsumer(kafka, {
    groupId: o.groupId,
    ...(o.partitionAssigners ? { partitionAssigners: o.partitionAssigners } : {}),
    ...(o.sessionTimeoutMs ? { sessionTimeout: o.sessionTimeoutMs } : {}),
    ...(o.rebalanceTimeoutMs ? { rebalanceTimeout: o.rebalanceTimeoutMs } : {}),
  });
  let assignment: Record<string, number[]> = {};
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    consumer.pause(o.topics.map((topic) => ({ topic })));
    assignment = payload.memberAssignment as Record<string, number[]>;
    o.onJoin?.(payload);
  });
  if (o.onCrash) consumer.on(consumer.events.CRASH, ({ payload }) => o.onCrash!(payload.error));
  if (o.onStop) consumer.on(consumer.events.STOP, () => o.onStop!());
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...o.topics], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
  } catch (err) {
    await consumer.disconnect().catch(() => {});
    throw err;
  }
  return {
    assignment: () => assignment,
    commit: (offsets) => consumer.commitOffsets(offsets.map((x) => ({ topic: x.topic, partition: x.partition, offset: x.offset }))),
    leave: () => consumer.disconnect(),
  };
}

/** A partition and an offset in it. */
export interface LogPosition { topic: string; partition: number; offset: bigint }

export interface RecordPeek {
  /**
   * The Kafka timestamp (ms) of the first record a read_committed reader sees at or after each position (transaction
   * markers and aborted records skipped), keyed `topic:partition`; null when there is none yet (the end of the log, an
   * open transaction) or the partition's leader could not be asked.
   */
  timestamps(positions: readonly LogPosition[]): Promise<Map<string, number | null>>;
  close(): Promise<void>;
}

/** The key of a partition in RecordPeek answers. */
export const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/** What a peek asks of kafkajs' cluster client and its brokers (kafkajs/src/cluster, src/broker: not in its typings). */
interface PeekCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(o: { nodeId: string }): Promise<{ fetch(r: unknown): Promise<{ responses: Array<{ topicName: string; partitions: PeekPartition[] }> }> }>;
}
interface PeekPartition { partition: number; messages: KafkaMessage[]; abortedTransactions?: unknown[] }
interface PeekBatch { messages: KafkaMessage[]; isEmptyIncludingFiltered(): boolean; lastOffset(): string }

const READ_COMMITTED = 1;
/** Bytes asked per partition: the broker returns the whole first record batch at the offset anyway (KIP-74). */
const PEEK_PARTITION_BYTES = 16 * 1024;
/** Fetches past transaction markers before giving up on a partition (each marker is one offset). */
const PEEK_ROUNDS = 3;
const LEADERSHIP = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION']);

/**
 * The timestamps of records at given offsets, read with one Fetch request per partition leader and no consumer group.
 * kafkajs has no consumer without a group (no assign()), and a throwaway group per look costs a JoinGroup and SyncGroup
 * round (seconds with the brokers' group.initial.rebalance.delay.ms) and a group to delete, every LAG_REFRESH_SECONDS.
 * So this uses kafkajs' own cluster client, the one its consumers fetch through, made by the client's (private)
 * factory, and kafkajs' Batch to drop transaction markers and aborted records as its consumers do. kafkajs 2.2.4 is
 * its last release; test/lib/record-peek.int.test.ts checks this against the broker. Answers are cached per
 * partition: a record's timestamp never changes, so asking again at the same offset costs nothing.
 */
export function createRecordPeek(kafka: Kafka): RecordPeek {
  const require = createRequire(import.meta.url);
  const Batch = require('kafkajs/src/consumer/batch.js') as new (topic: string, offset: string, data: PeekPartition) => PeekBatch;
  let cluster: Promise<PeekCluster> | null = null;
  const cache = new Map<string, { offset: bigint; at: number | null }>();
  const connected = () => cluster ??= (async () => {
    const factory = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
    const create = factory ? (kafka as unknown as Record<symbol, unknown>)[factory] : undefined;
    if (typeof create !== 'function') throw new Error('this kafkajs has no cluster factory (private:Kafka:createCluster): lag in seconds is unavailable');
    const c = (create as (o: object) => PeekCluster)({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
    try { await c.connect(); } catch (err) { cluster = null; throw err; }
    return c;
  })();

  /** One round: fetch at each position from its leader; answers go to `out`, positions past markers are returned to ask again. */
  async function round(c: PeekCluster, positions: readonly LogPosition[], out: Map<string, number | null>): Promise<LogPosition[]> {
    const byLeader = new Map<string, LogPosition[]>();
    for (const p of positions) {
      const leader = Object.keys(c.findLeaderForPartitions(p.topic, [p.partition]))[0];
      if (leader === undefined) { out.set(partitionKey(p.topic, p.partition), null); continue; }
      (byLeader.get(leader) ?? byLeader.set(leader, []).get(leader)!).push(p);
    }
    const again: LogPosition[] = [];
    let stale = false;
    await Promise.all([...byLeader].map(async ([nodeId, ps]) => {
      const topics = [...new Set(ps.map((p) => p.topic))].map((topic) => ({
        topic,
        partitions: ps.filter((p) => p.topic === topic)
          .map((p) => ({ partition: p.partition, fetchOffset: p.offset.toString(), maxBytes: PEEK_PARTITION_BYTES })),
      }));
      try {
        const broker = await c.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          maxWaitTime: 0, minBytes: 1, maxBytes: PEEK_PARTITION_BYTES * ps.length, isolationLevel: READ_COMMITTED, topics,
        });
        for (const { topicName, partitions } of responses) {
          for (const data of partitions) {
            const p = ps.find((x) => x.topic === topicName && x.partition === data.partition);
            if (!p) continue;
            const batch = new Batch(topicName, p.offset.toString(), data);
            const first = batch.messages[0];
            if (first) out.set(partitionKey(p.topic, p.partition), Number(first.timestamp));
            else if (!batch.isEmptyIncludingFiltered()) again.push({ ...p, offset: BigInt(batch.lastOffset()) + 1n }); // markers only: read on
            else out.set(partitionKey(p.topic, p.partition), null);
          }
        }
      } catch (err) {
        // A leader that moved: the next look asks the new one; meanwhile these partitions are unknown.
        if (LEADERSHIP.has(String((err as { type?: unknown }).type)) || String((err as { name?: unknown }).name).startsWith('KafkaJSConnection')) stale = true;
        for (const p of ps) out.set(partitionKey(p.topic, p.partition), null);
      }
    }));
    if (stale) await c.refreshMetadata().catch(() => {});
    return again;
  }

  return {
    async timestamps(positions) {
      const out = new Map<string, number | null>();
      const asked = positions.filter((p) => {
        const hit = cache.get(partitionKey(p.topic, p.partition));
        if (hit?.offset === p.offset && hit.at !== null) out.set(partitionKey(p.topic, p.partition), hit.at);
        return !out.has(partitionKey(p.topic, p.partition));
      });
      if (!asked.length) return out;
      const c = await connected();
      await c.addMultipleTargetTopics([...new Set(asked.map((p) => p.topic))]);
      let pending: LogPosition[] = asked;
      for (let i = 0; i < PEEK_ROUNDS && pending.length; i++) pending = await round(c, pending, out);
      for (const p of pending) out.set(partitionKey(p.topic, p.partition), null);
      for (const p of asked) cache.set(partitionKey(p.topic, p.partition), { offset: p.offset, at: out.get(partitionKey(p.topic, p.partition)) ?? null });
      return out;
    },
    async close() {
      const c = cluster;
      cluster = null;
      if (c) await (await c.catch(() => null))?.disconnect().catch(() => {});
    },
  };
}
