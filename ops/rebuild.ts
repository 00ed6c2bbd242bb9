// Rebuild a store from the log: move the sink's group to the earliest retained record on every topic it reads, clear
// what the sink materialized (Sink.reset), then run the group in this process until it has caught up with the end
// offsets taken at the start, reporting progress, and count what the store holds afterwards. Sinks are idempotent and
// ordered by event time, so a rebuild reproduces the same state: from what the log still holds.
//
// Why no other member can lose data to the clear. The danger is a member of the group that reads records after the
// rewind, writes them and commits their offsets, and whose writes the clear then erases: the rebuild's members start
// after those offsets, and the records never come back. Checking that the group is idle and then acting leaves that
// window open however short it is; so the rebuild does not check, it holds the group (ops/groups.ts holdGroup):
//   1. Before anything changes, its own member joins the group as the leader that assigns every partition to itself
//      and none to anyone else, paused and never committing on its own. If another member is already there the join
//      does not make it the sole owner, and the rebuild refuses with nothing changed.
//   2. As that owner it commits the rewound offsets (the broker accepts a member's commit only for its current
//      generation), clears the store, then commits them again. A member that joins at any point gets no partition,
//      so it has nothing to read, write or commit; the second commit succeeds only if our member is still the one
//      the group knows (not evicted), and holdGroup fails the hold on any rejoin that was not as sole owner. Either
//      failure is reported (GroupHoldLostError) instead of a rebuild that may be incomplete.
//   3. Hand-over, once the clear is proven safe: the rebuild's own members start (connect to the store, join) and the
//      holder leaves meanwhile. They rebalance with whoever else joined during the hold, and all of them start from the
//      rewound offsets into a store that was cleared while nobody else could write: whatever they write stays. (The
//      order of joining and leaving does not matter for safety, only for speed: our members joining while the hold
//      still stands would idle until their next heartbeat noticed the holder leaving.)
// Not covered, as for any consumer group: a member evicted before the hold (a process frozen past the session timeout)
// that still has a write in flight. It cannot commit, and what it writes is a record of the log that the replay
// writes again; only a write landing after the replay's newer one for the same key would leave an older value (the
// stores have no writer fencing).
//
// Before clearing, the rebuild also refuses (unless allowPartial) when a replay would not bring back what the store
// holds: retention or a deleteRecords removed records from the start of a topic, and the store has data they made
// (Sink.replayLoss, given a view of the log: which partitions were truncated, and the oldest record per key left).
// The optional confirm() is asked last, with the counts, the records to replay and any accepted loss.
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Admin, type Kafka, type PartitionMetadata } from 'kafkajs';
import { configuredSinkTopics, sinks, type StoreName } from '../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../consumers/start.ts';
import type { ReplayLoss, ResetScope, RetainedLog, SinkTopics, StoreCounts } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import { GroupHoldLostError, isRetriable, RebuildDeclinedError, RebuildUnsupportedError, RetentionLossError } from '../lib/errors.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { readLog, throwawayGroup } from '../lib/records.ts';
import { createSerde } from '../lib/serde.ts';
import { ensureTopics } from '../topics/admin.ts';
import type { TopicDef } from '../topics/index.ts';
import { assertGroupStopped, holdGroup, resolveGroup, type GroupHold } from './groups.ts';
import { planReplay, type OffsetChange } from './replay.ts';

export interface RebuildProgress {
  /** Records consumed (committed) since the rebuild started. */
  done: number;
  /** Records in the log when it started. */
  total: number;
  elapsedMs: number;
  perSecond: number;
}

/** What a rebuild is about to do, once everything is known and nothing has changed yet (for a confirmation). */
export interface RebuildPlan {
  sink: StoreName;
  groupId: string;
  topics: string[];
  scope?: ResetScope;
  /** What the store holds now (within the scope): what the clear removes. */
  counts: StoreCounts;
  /** Records the replay will read. */
  records: number;
  /** What will not come back (only when allowPartial let the rebuild go on). */
  losses: ReplayLoss[];
}

export interface RebuildOptions {
  config: Config;
  logger: Logger;
  sink: StoreName;
  /** Topic overrides (isolated topics in tests and benchmarks); default: the configured topics. */
  topics?: SinkTopics;
  /** Clear (and count) only these symbols' data; default everything the sink materializes. */
  scope?: ResetScope;
  /** Go on when a replay would not bring back everything the store holds (retention); default: refuse. */
  allowPartial?: boolean;
  /** Asked before anything changes; false cancels (RebuildDeclinedError). Absent: no question. */
  confirm?(plan: RebuildPlan): Promise<boolean>;
  onProgress?(p: RebuildProgress): void;
  /** Stops waiting (the group is stopped gracefully; its offsets keep the progress made, so `consume` resumes it). */
  signal?: AbortSignal;
  /** How often committed offsets are read (default 500 ms). */
  pollMs?: number;
  /** Test hook: runs with the group held and its offsets rewound, just before the store is cleared. */
  beforeClear?(): Promise<void>;
}

export interface RebuildResult {
  sink: StoreName;
  groupId: string;
  topics: string[];
  /** Offsets before and after the rewind, per partition. */
  rewound: OffsetChange[];
  records: number;
  ms: number;
  perSecond: number;
  /** What the store holds afterwards (within the scope). */
  counts: StoreCounts;
  /** What did not come back (allowPartial); empty otherwise. */
  losses: ReplayLoss[];
  /** False when stopped by the signal before catching up. */
  completed: boolean;
}

export async function rebuild(o: RebuildOptions): Promise<RebuildResult> {
  const { config, logger } = o;
  const group = resolveGroup(config, o.sink, o.topics);
  const kafka = createKafka(config, logger, 'rebuild');
  await ensureTopics(kafka, config, o.topics ? Object.values(o.topics) : undefined);
  const store = sinks[o.sink].create(config, { topics: { ...configuredSinkTopics(config), ...o.topics }, logger });
  if (!store.reset) throw new RebuildUnsupportedError(store.name);
  const admin = kafka.admin();
  await admin.connect();
  let hold: GroupHold | undefined;
  let running: RunningSinks | undefined;
  try {
    await store.connect();
    // Not the guarantee (the hold is): refuses early, without making live members rebalance.
    await assertGroupStopped(admin, group.groupId);
    hold = await holdGroup(kafka, admin, { groupId: group.groupId, topics: group.topics, logger });
    const rewound = (await planReplay(admin, { groupId: group.groupId, topics: group.topics, target: { kind: 'earliest' } })).changes;
    const total = rewound.reduce((n, c) => n + c.lagAfter, 0);

    const countsBefore = (await store.counts?.(o.scope)) ?? {};
    const losses = store.replayLoss ? await store.replayLoss(retainedLog(kafka, config, logger, rewound), o.scope) : [];
    if (losses.length && !o.allowPartial) throw new RetentionLossError(describeLosses(o.sink, losses, rewound), losses);
    const plan = { sink: o.sink, groupId: group.groupId, topics: group.topics, scope: o.scope, counts: countsBefore, records: total, losses };
    if (o.confirm && !(await o.confirm(plan))) {
      throw new RebuildDeclinedError('rebuild cancelled: nothing was changed');
    }
    if (o.signal?.aborted) throw new RebuildDeclinedError('rebuild stopped before clearing: nothing was changed');

    const offsets = rewound.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.after }));
    await hold.commit(offsets);
    await verifyOffsets(admin, group.groupId, rewound);
    logger.info({ group: group.groupId, topics: group.topics }, 'offsets rewound to earliest while holding the group; clearing the store');
    await o.beforeClear?.();
    hold.assertHeld();
    await store.reset(o.scope);
    // Proof that nobody else could commit while we cleared: still the group's sole owner, offsets untouched.
    await hold.commit(offsets);
    await verifyOffsets(admin, group.groupId, rewound);

    // Caught up = committed offset at or past the end offset every partition had when we started.
    const started = Date.now();
    let done = 0;
    let completed = total === 0;
    let caughtUpAt = started;
    const progress = () => {
      const elapsedMs = Date.now() - started;
      o.onProgress?.({ done, total, elapsedMs, perSecond: elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0 });
    };
    progress();
    // Hand-over: our members start (connect to the store, then join), and the holder leaves the group meanwhile.
    const starting = completed ? undefined : startSinks({ config, logger, names: [o.sink], topics: o.topics });
    starting?.catch(() => {}); // awaited below
    await hold.release();
    running = await starting;
    while (!completed && !o.signal?.aborted) {
      const committed = await admin.fetchOffsets({ groupId: group.groupId, topics: group.topics });
      done = 0;
      let behind = false;
      for (const c of rewound) {
        const at = Number(committed.find((t) => t.topic === c.topic)?.partitions.find((p) => p.partition === c.partition)?.offset ?? -1);
        const end = Number(c.latest);
        done += Math.max(0, Math.min(at, end) - Number(c.after));
        if (at < end) behind = true;
      }
      progress();
      if (!behind) { completed = true; caughtUpAt = Date.now(); break; }
      await sleep(o.pollMs ?? 500, undefined, { signal: o.signal }).catch(() => {});
    }
    await running?.stop();
    running = undefined;
    // Rate up to catching up; stopping the group and counting afterwards are not replay time.
    const ms = (completed ? caughtUpAt : Date.now()) - started;
    return {
      sink: o.sink, groupId: group.groupId, topics: group.topics, rewound, records: done, ms,
      perSecond: ms > 0 ? Math.round((done * 1000) / ms) : 0,
      counts: (await store.counts?.(o.scope)) ?? {},
      losses,
      completed,
    };
  } finally {
    await running?.stop().catch(() => {});
    await hold?.release().catch(() => {});
    await admin.disconnect();
    await store.close();
  }
}

/** Reads the group's offsets back: exactly the rewound ones (nobody else can commit while the group is held). */
async function verifyOffsets(admin: Admin, groupId: string, changes: readonly OffsetChange[]): Promise<void> {
  const now = await admin.fetchOffsets({ groupId, topics: [...new Set(changes.map((c) => c.topic))] });
  const wrong = changes.filter((c) => now.find((t) => t.topic === c.topic)?.partitions.find((p) => p.partition === c.partition)?.offset !== c.after);
  if (wrong.length) throw new GroupHoldLostError(groupId, `offsets of ${wrong.map((c) => `${c.topic}/${c.partition}`).join(', ')} are not the rewound ones`);
}

const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');

function describeLoss(l: ReplayLoss): string {
  const range = l.from !== undefined && l.to !== undefined ? (l.from === l.to ? `, at ${iso(l.from)}` : `, ${iso(l.from)} to ${iso(l.to)}`)
    : l.to !== undefined ? `, made before ${iso(l.to)}` : '';
  return `${l.count.toLocaleString('en-US')} ${l.what}${l.detail ? ` ${l.detail}` : ''}${range} (${l.topic})`;
}

/** The refusal: what would not come back (how many, which dates), what the log lost, and how to go on anyway. */
export function describeLosses(sink: StoreName, losses: readonly ReplayLoss[], rewound: readonly OffsetChange[]): string {
  const topics = [...new Set(losses.map((l) => l.topic))].map((t) => {
    const cut = rewound.filter((c) => c.topic === t && BigInt(c.earliest) > 0n);
    const removed = cut.reduce((n, c) => n + Number(c.earliest), 0).toLocaleString('en-US');
    return `${t} starts at offset ${cut.map((c) => `${c.earliest} on partition ${c.partition}`).join(', ')} (${removed} record(s) removed by retention)`;
  });
  return [
    `retention has removed records whose data the ${sink} store still holds; a rebuild would not bring back:`,
    ...losses.map((l) => `  ${describeLoss(l)}`),
    `  ${topics.join('; ')}`,
    'Nothing was changed. To rebuild anyway and keep only what the log holds, pass --allow-partial.',
  ].join('\n');
}

/** The log a rebuild replays, as Sink.replayLoss sees it: truncation from the plan, keys to partitions, the oldest record left per key. */
function retainedLog(kafka: Kafka, config: Config, logger: Logger, plan: readonly OffsetChange[]): RetainedLog {
  const partitioner = Partitioners.DefaultPartitioner();
  const of = (topic: string) => plan.filter((c) => c.topic === topic);
  const truncated = (topic: string) => of(topic).filter((c) => BigInt(c.earliest) > 0n);
  return {
    truncated: (topic) => truncated(topic).map((c) => ({ partition: c.partition, dropped: Number(c.earliest) })),
    partitionOf: (topic, key) => partitioner({
      topic, message: { key, value: null },
      partitionMetadata: of(topic).map((c) => ({ partitionId: c.partition, leader: 0 }) as PartitionMetadata),
    }),
    oldestByKey: (topic, time, keys) => oldestByKey(kafka, config, logger, topic, truncated(topic.name), time, keys),
  };
}

/**
 * Reads the truncated partitions of a topic from their earliest to their planned end with lib/records' bounded reader (a
 * throwaway group that never commits, deleted afterwards), and keeps the oldest `time(value)` per key.
 */
async function oldestByKey<T>(kafka: Kafka, config: Config, logger: Logger, topic: TopicDef<T>, truncated: readonly OffsetChange[],
  time: (value: T) => number, keys?: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const ranges = truncated.map((c) => ({ topic: topic.name, partition: c.partition, start: BigInt(c.earliest), end: BigInt(c.latest) }));
  if (!ranges.some((r) => r.start < r.end)) return out;
  const want = keys ? new Set(keys) : null;
  const serde = createSerde(config);
  const started = Date.now();
  await readLog(kafka, {
    ranges, group: throwawayGroup(config.KAFKA_GROUP_PREFIX, 'rebuild-scan'), sessionTimeoutMs: 30_000, maxBytesPerPartition: 4 * 1024 * 1024,
    onRecord: async (m) => {
      const key = m.key?.toString('utf8');
      if (key === undefined || !m.value || (want && !want.has(key))) return;
      let t: number;
      try {
        t = time((await serde.decode(topic, m.value)).value);
      } catch (err) {
        // A record the sinks dead-letter makes nothing in the store; an unreachable registry stops the scan.
        if (isRetriable(err)) throw err;
        return;
      }
      const seen = out.get(key);
      if (seen === undefined || t < seen) out.set(key, t);
    },
  });
  logger.info({ topic: topic.name, partitions: truncated.length, keys: out.size, ms: Date.now() - started },
    'read the truncated partitions for the retention check');
  return out;
}
