// The shared runner owns Kafka for every sink: it consumes a topic-partition batch, decodes and validates each record,
// sends bad records to `<topic>.dlq`, hands the good ones to the sink, and commits offsets only after both succeeded.
// A store that is down is retried with back-off (heartbeating on a timer, never skipping); a record at fault is isolated
// by halving the batch and dead-lettered. This file wires the stages in runner/: decode (decoding and validation),
// isolate (halving a rejected batch), write-slots (the per-partition write order of the pipelined mode), commits
// (commit after the write, coalesced when pipelined), assignment (what a batch does after its fetch belongs to the
// assignment it was fetched under, and ends with it), membership (heartbeats, rebalance detection) and retry.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import pRetry from 'p-retry';
import type { Config } from '../lib/config.ts';
import { MemberFailedError, errorMessage, isRetriable } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { Serde } from '../lib/serde.ts';
import { inStoreWriteSpan, tracingOn } from '../lib/tracing.ts';
import { createAssignments, type Assignment, type Assignments } from './runner/assignment.ts';
import { commitPast, nextOffset } from './runner/commits.ts';
import { deadLetter, reportDeadLetters } from './runner/dead-letters.ts';
import { decodeBatch, type DecodedBatch } from './runner/decode.ts';
import { callHook, newestBars, type RunnerHooks } from './runner/hooks.ts';
import { writeIsolating } from './runner/isolate.ts';
import { batchMembership, heartbeatMs, onGroupJoin, type BatchMembership } from './runner/membership.ts';
import { createRetrying, type Retrying } from './runner/retry.ts';
import { createSeekLog, seekBack, type Outcome, type Seek, type SeekLog } from './runner/write-slots.ts';
import type { Sink, TopicHandler } from './types.ts';

export type { RunnerHooks } from './runner/hooks.ts';

export interface RunnerDeps {
  kafka: Kafka; serde: Serde; publisher: Publisher; logger: Logger; config: Config;
  sink: Sink; groupId: string; hooks?: RunnerHooks;
}

/** What the per-batch handler needs: everything a runner has but the Kafka client. */
export interface BatchHandlerDeps {
  sink: Sink; groupId: string; serde: Serde; publisher: Publisher; logger: Logger; config: Config; hooks?: RunnerHooks;
  /** Aborted when the member stops for good: a batch still retrying is then abandoned, uncommitted. */
  signal?: AbortSignal;
  /**
   * Overlap fetching with writing: `eachBatch` hands a decoded batch to a per-partition write slot and returns, so the
   * next fetch runs while the store writes; the batch is committed when its write ended. At most one batch per
   * partition is written at a time, in offset order. Needs `seek`, to fetch a batch again when its write was abandoned.
   */
  pipeline?: boolean;
  /** Fetch `topic`/`partition` again from `offset` (kafkajs `consumer.seek`). */
  seek?: Seek;
  /**
   * Fetch `topic`/`partition` again from the group's committed offset (or the start when none): undoes a seek kafkajs
   * kept from an older assignment and applied when the partition came back.
   */
  rewind?(topic: string, partition: number): Promise<void>;
  /** The member cannot go on (MemberFailedError): the runner stops it and reports why. */
  onFatal?(err: MemberFailedError): void;
}

/** The `eachBatch` of a sink's consumer, usable without a broker. */
export interface BatchHandler {
  eachBatch(p: EachBatchPayload): Promise<void>;
  /** Abandons (uncommitted) a batch stuck retrying, as when `signal` aborts. */
  abort(): void;
  /** From now on writes each batch before `eachBatch` returns; resolves once the writes handed off before are over. */
  drain(): Promise<void>;
  /** The member joined its group with `partitions` (call it synchronously from kafkajs's GROUP_JOIN): a new assignment. */
  joined(partitions: Readonly<Record<string, readonly number[]>>): void;
  /** The member left its group (kafkajs crashed, or it stops): the assignment ends; its writes neither commit nor seek. */
  left(): void;
}

export interface SinkRunner {
  readonly consumer: Consumer;
  /**
   * Settles with the error when the member stopped on its own, for good: kafkajs crashed without restarting, or a batch
   * step failed with the same unclassified error SINK_UNKNOWN_ERROR_ATTEMPTS times. Never settles otherwise. The process
   * running the member should exit non-zero (consumers/start.ts, `marketstream consume`).
   */
  readonly failed: Promise<MemberFailedError>;
  start(): Promise<void>;
  /**
   * Finishes the batches in flight, leaves the group, closes the store, within the grace period. True when all of it
   * ended in time; false when something was abandoned or left behind at the deadline (the command then exits 1).
   */
  stop(): Promise<boolean>;
}

export function createSinkRunner(d: RunnerDeps): SinkRunner {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const topics = [...new Set(d.sink.handlers.map((h) => h.topic.name))];
  const consumer = d.kafka.consumer({
    groupId: d.groupId, sessionTimeout: d.config.KAFKA_SESSION_TIMEOUT_MS, heartbeatInterval: heartbeatMs(d.config),
    maxBytes: d.config.SINK_FETCH_MAX_BYTES, maxBytesPerPartition: d.config.SINK_FETCH_PARTITION_MAX_BYTES, maxWaitTimeInMs: 1000,
  });
  const stopping = new AbortController();
  let fail!: (err: MemberFailedError) => void;
  const failed = new Promise<MemberFailedError>((resolve) => { fail = resolve; });
  let stopped: Promise<boolean> | undefined;
  const handler = createBatchHandler({
    sink: d.sink, groupId: d.groupId, serde: d.serde, publisher: d.publisher, logger: d.logger, config: d.config, hooks: d.hooks, signal: stopping.signal,
    pipeline: d.config.SINK_PIPELINE, seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
    rewind: (topic, partition) => rewind(d, consumer, topic, partition),
    onFatal: (err) => fatal(err),
  });
  // Stops the member for good; `failed` tells whoever runs it.
  const fatal = (err: MemberFailedError) => {
    if (stopping.signal.aborted) return;
    log.error({ err: errorMessage(err), cause: errorMessage(err.cause) }, 'member stopped for good: it cannot go on by itself');
    fail(err);
    void runner.stop().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'stopping the failed member failed'));
  };
  // The runner's own grace: retries still running are abandoned then, and a store call that does not return is left
  // behind, so the member leaves its group in time for the process's SHUTDOWN_GRACE_SECONDS.
  const graceMs = Math.min(10_000, (d.config.SHUTDOWN_GRACE_SECONDS * 1000) / 2);

  const runner: SinkRunner = {
    consumer,
    failed,
    async start() {
      callHook(d.hooks, log, 'onMember', { sink: d.sink, groupId: d.groupId, topics: [...topics], consumer });
      await pRetry(() => d.sink.connect(), {
        retries: Infinity, minTimeout: 500, maxTimeout: d.config.SINK_RETRY_MAX_MS, signal: stopping.signal, shouldRetry: ({ error }) => isRetriable(error),
        onFailedAttempt: ({ error }) => log.warn({ err: errorMessage(error) }, 'store not reachable yet; retrying'),
      });
      onGroupJoin(consumer, ({ at, partitions, assignment, isLeader }) => {
        handler.joined(assignment); // synchronously: kafkajs has just made the new generation's OffsetManager
        log.info({ partitions, leader: isLeader }, 'joined group');
        callHook(d.hooks, log, 'onGroupJoin', { sink: d.sink.name, groupId: d.groupId, at, partitions });
      });
      consumer.on(consumer.events.CRASH, ({ payload: { error, restart } }) => {
        handler.left();
        if (restart) return; // kafkajs joins again: a new assignment
        fatal(error instanceof MemberFailedError ? error
          : new MemberFailedError(`the Kafka consumer crashed and kafkajs does not restart it: ${errorMessage(error)}`, error));
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [...topics], fromBeginning: true });
      // The handler commits each batch's offsets itself once the batch is written (or dead-lettered); kafkajs never
      // commits on its own, so a position fetched ahead of the writes is never committed.
      const partitionsConsumedConcurrently = d.config.SINK_PARTITIONS_CONCURRENCY;
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently, eachBatch: handler.eachBatch });
      log.info({ topics: [...topics] }, 'sink started');
    },
    stop() {
      stopped ??= (async () => {
        // One deadline for all of it: the batches in flight finish and commit, the member leaves its group, the store
        // connection closes. A batch stuck retrying a dead store, or in a store call that does not return, is abandoned
        // (uncommitted) when the deadline passes: whoever owns its partition next reads it again. What is still running
        // then (a disconnect waiting for such a batch, a close waiting for such a call) is left behind.
        const until = Date.now() + graceMs;
        let clean = true;
        if (await within(until, handler.drain())) {
          stopping.abort();
          clean = false;
          log.warn({ graceMs }, 'writes still running after the grace period; abandoned');
        }
        handler.left();
        if (await within(until, consumer.disconnect())) {
          clean = false;
          log.warn({ graceMs }, 'the consumer did not leave its group within the grace period; left behind');
        }
        stopping.abort();
        if (await within(until, d.sink.close())) {
          clean = false;
          log.warn('the store connection did not close within the grace period; left behind');
        }
        log.info({ clean }, 'sink stopped');
        return clean;
      })();
      return stopped;
    },
  };
  return runner;
}

/**
 * Waits for `work` until the time `until` (ms since the epoch): true when it was still running then (it goes on,
 * unwatched, its failure ignored), false when it ended; rejects when it failed in time.
 */
async function within(until: number, work: Promise<unknown>): Promise<boolean> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<true>((resolve) => { timer = setTimeout(resolve, Math.max(0, until - Date.now()), true); });
  try {
    return await Promise.race([work.then(() => false as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Seeks `topic`/`partition` to the group's committed offset, or to the partition's start when it has none. */
async function rewind(d: RunnerDeps, consumer: Consumer, topic: string, partition: number): Promise<void> {
  const admin = d.kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId: d.groupId, topics: [topic] });
    let offset = committed?.partitions.find((x) => x.partition === partition)?.offset ?? '-1';
    if (BigInt(offset) < 0n) offset = (await admin.fetchTopicOffsets(topic)).find((x) => x.partition === partition)?.low ?? '0';
    consumer.seek({ topic, partition, offset });
  } finally {
    await admin.disconnect();
  }
}

/** What every batch of one handler shares. */
interface Handling {
  d: BatchHandlerDeps;
  log: Logger;
  handlers: ReadonlyMap<string, TopicHandler<unknown>>;
  aborting: AbortController;
  /** This member stopped (or abort() was called): leave batches uncommitted; whoever owns the partition next re-reads them. */
  signal: AbortSignal;
  retrying: Retrying;
  /** The member's assignment now (its write slots and commits), and the ones before whose writes are still running. */
  assignments: Assignments;
  /** Seeks asked of kafkajs and not yet applied, with the assignment that asked. */
  seeks: SeekLog;
  /** Each batch is written (and committed) before eachBatch returns: not pipelined, or pipelined and draining. */
  inline: boolean;
}

/**
 * Handles one topic-partition batch: decode and validate, write the good records, dead-letter the bad ones, then
 * resolve and commit. Returns without committing when the batch is abandoned (member stopping, partition reassigned).
 */
export function createBatchHandler(d: BatchHandlerDeps): BatchHandler {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const aborting = new AbortController();
  const c: Handling = {
    d, log, aborting, handlers: new Map(d.sink.handlers.map((h) => [h.topic.name, h])),
    signal: d.signal ? AbortSignal.any([aborting.signal, d.signal]) : aborting.signal,
    retrying: createRetrying({
      log, hooks: d.hooks, sink: d.sink.name, groupId: d.groupId, maxTimeoutMs: d.config.SINK_RETRY_MAX_MS, unknownAttempts: d.config.SINK_UNKNOWN_ERROR_ATTEMPTS,
    }),
    assignments: createAssignments({ commitIntervalMs: d.config.SINK_COMMIT_INTERVAL_MS, log }), seeks: createSeekLog(), inline: !d.pipeline,
  };
  return {
    eachBatch: (p) => eachBatch(c, p),
    abort: () => aborting.abort(),
    async drain() {
      c.inline = true;
      await c.assignments.drain();
    },
    joined: (partitions) => { c.assignments.joined(partitions); },
    left: () => { c.assignments.left(); },
  };
}

/** A batch from its fetch until its write ended, with the assignment it was fetched under. */
interface InHand<T> { h: TopicHandler<T>; p: EachBatchPayload; a: Assignment; member: BatchMembership; receivedAt: number }

async function eachBatch(c: Handling, p: EachBatchPayload): Promise<void> {
  const h = c.handlers.get(p.batch.topic);
  if (!h || p.batch.isEmpty()) return;
  const receivedAt = Date.now();
  const { topic, partition } = p.batch;
  const a = c.assignments.current();
  // Fetched for an assignment that has ended, or before a seek of ours: not ours to write.
  if (!a.current || !a.holds(topic, partition) || p.isStale()) return;
  if (c.seeks.arrived(topic, partition, a.generation)) {
    // Read from a seek kafkajs kept from an older assignment of this partition: read it from the group's commit instead.
    await c.d.rewind?.(topic, partition);
    c.seeks.sought(topic, partition, a.generation);
    return;
  }
  // Membership is kept for as long as the batch is in our hands: slow writes, retries of a store that is down (whose
  // back-off can be as long as the session timeout), and the isolation of a rejected batch.
  const member = batchMembership(p, c.signal, heartbeatMs(c.d.config));
  const stopBeating = member.keepAlive();
  let handedOff = false;
  try {
    // Decoding overlaps the write of the batch before (pipelined mode): that one is awaited only after.
    const decoded = await c.retrying('decode', p, member, () => decodeBatch(h, p.batch, c.d.serde, c.d.groupId));
    if (!(await a.slots.turn(topic, partition))) return; // its write was abandoned: the partition is fetched again from that batch's first offset
    if (p.isStale() || c.signal.aborted || !a.current) return;
    if (c.d.pipeline) p.resolveOffset(p.batch.lastOffset()); // the next fetch goes on past this batch; committed only once written
    const job = finish(c, { h, p, a, member, receivedAt }, decoded).catch((err: unknown): Outcome => ({ ok: false, error: err })).finally(stopBeating);
    handedOff = true;
    if (c.inline) {
      const outcome = await job;
      if (outcome.error) throw outcome.error;
      return;
    }
    a.slots.handOff(topic, partition, job);
  } catch (err) {
    if (member.abandoned(err) && !(err instanceof MemberFailedError)) return;
    if (err instanceof MemberFailedError) c.d.onFatal?.(err);
    throw err;
  } finally {
    if (!handedOff) stopBeating();
  }
}

/** Writes a decoded batch, dead-letters its bad records, then commits past it; settles to how that ended. */
async function finish<T>(c: Handling, b: InHand<T>, decoded: DecodedBatch<T>): Promise<Outcome> {
  const { p, a } = b;
  try {
    if (!(await write(c, b, decoded))) {
      // Dead-lettered and committed by the partition's previous owner after this member read its commit: read on from there.
      if (a.current) {
        await c.d.rewind?.(p.batch.topic, p.batch.partition);
        c.seeks.sought(p.batch.topic, p.batch.partition, a.generation);
      }
      return { ok: false };
    }
  } catch (err) {
    return failed(c, b, err);
  }
  // The partition went to another member meanwhile: its records are read again there; this member commits nothing of them.
  if (!a.current) return { ok: false };
  if (!c.d.pipeline) {
    await commitPast(p);
    return { ok: true };
  }
  a.commits.add(p, p.batch.topic, p.batch.partition, nextOffset(p.batch));
  if (c.inline) await a.commits.flush();
  return { ok: true };
}
/**
 * The store write (isolating a rejected batch), the dead letters' publish, then the onWritten hook. False: the group had
 * already committed past the batch (the partition's previous owner dead-lettered and committed it): nothing more to do.
 */
async function write<T>(c: Handling, { h, p, a, member, receivedAt }: InHand<T>, { good, raw, dead }: DecodedBatch<T>): Promise<boolean> {
  const { topic, partition } = p.batch;
  const origin = { topic, partition, group: c.d.groupId };
  const started = Date.now();
  let stale = 0;
  const refused = new Set<number>();
  if (good.length) {
    const store = () => writeIsolating(good, {
      write: (records) => c.retrying('store write', p, member, async () => { stale += (await h.writeBatch(records))?.stale ?? 0; }),
      passThrough: (err) => isRetriable(err) || member.abandoned(err) || err instanceof MemberFailedError,
      rejected: (i, err) => { refused.add(i); dead.push(deadLetter(origin, raw[i]!, err)); },
      isolating: (err) => c.log.warn({ topic, partition, offset: p.batch.firstOffset(), records: good.length, err: errorMessage(err) },
        'batch rejected by the store; isolating the bad record(s)'),
    });
    // Tracing on: the write (its retries and isolation included) in a span, a child of the first record's trace,
    // linked to the other records' (lib/tracing.ts inStoreWriteSpan).
    if (tracingOn()) {
      await inStoreWriteSpan(`write ${c.d.sink.name}`, {
        'messaging.destination.name': topic, 'messaging.destination.partition.id': String(partition), 'messaging.consumer.group.name': c.d.groupId,
        'messaging.batch.message_count': good.length, 'messaging.kafka.offset': Number(p.batch.firstOffset()), 'marketstream.sink': c.d.sink.name,
      }, raw.map((m) => m.headers), store);
    } else {
      await store();
    }
  }
  const writtenAt = Date.now();
  if (dead.length) {
    // A member of a group publishes them with the batch's offset in one transaction (each seen once at read_committed);
    // a handler driven without a group (generation 0) has no group offsets to commit with them.
    const at = { groupId: c.d.groupId, partition, offset: nextOffset(p.batch) };
    const sent = !c.d.config.SINK_DLQ_TRANSACTIONS || a.generation === 0
      ? await c.retrying('dead-letter', p, member, () => c.d.publisher.deadLetter(h.topic, dead)).then(() => ({ published: dead.length, behind: false }))
      : await c.retrying('dead-letter', p, member, () => a.commits.transact(topic, partition,
        (fence) => c.d.publisher.deadLetterCommitting(h.topic, dead, { ...at, fence })));
    if (!sent || sent.behind) return false;
    reportDeadLetters(sent.published === dead.length ? dead : dead.slice(dead.length - sent.published),
      { log: c.log, hooks: c.d.hooks, sink: c.d.sink.name, origin });
  }
  const timestamps = good.map((r) => r.timestamp);
  callHook(c.d.hooks, c.log, 'onWritten', {
    sink: c.d.sink.name, groupId: c.d.groupId, topic, partition, records: p.batch.messages.length, timestamps,
    receivedAt, writtenAt, writeMs: writtenAt - started, stale,
    ...(h.barOf ? { bars: newestBars(good.filter((_, i) => !refused.has(i)), h.barOf) } : {}),
  });
  return true;
}

/** How a batch whose write (or dead-lettering) did not end well settles. */
function failed(c: Handling, { p, a, member }: InHand<unknown>, err: unknown): Outcome {
  if (err instanceof MemberFailedError) {
    c.d.onFatal?.(err);
    return { ok: false, error: err };
  }
  if (!c.d.pipeline) return member.abandoned(err) ? { ok: false } : { ok: false, error: err };
  // The partition went to another member meanwhile: nothing to seek back to here (kafkajs would keep the seek for
  // when the partition comes back, generations later).
  if (!a.current) return { ok: false };
  // Handed off: the position is already past this batch; fetch it again (unless this member is stopping).
  if (!seekBack(p, { stopping: c.signal, seek: c.d.seek, log: c.log })) return { ok: false, error: err };
  c.seeks.sought(p.batch.topic, p.batch.partition, a.generation);
  if (member.abandoned(err)) return { ok: false };
  const { topic, partition } = p.batch;
  c.log.error({ topic, partition, offset: p.batch.firstOffset(), err: errorMessage(err) }, 'batch write failed; the consumer restarts from the last commit');
  return { ok: false, error: err };
}
