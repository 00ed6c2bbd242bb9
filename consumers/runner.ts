// The shared runner owns Kafka for every sink: it consumes a topic-partition batch, decodes and validates each record,
// sends bad records to `<topic>.dlq`, hands the good ones to the sink, and commits offsets only after both succeeded.
// A store that is down is retried with back-off (heartbeating on a timer, never skipping); a record at fault is isolated
// by halving the batch and dead-lettered. This file wires the stages in runner/: decode (decoding and validation),
// isolate (halving a rejected batch), write-slots (the per-partition write order of the pipelined mode), commits
// (commit after the write, coalesced when pipelined), membership (heartbeats, rebalance detection) and retry.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import pRetry from 'p-retry';
import type { Config } from '../lib/config.ts';
import { errorMessage, isRetriable } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { Publisher } from '../lib/publisher.ts';
import type { Serde } from '../lib/serde.ts';
import { commitPast, createCommitCoalescer, nextOffset, type CommitCoalescer } from './runner/commits.ts';
import { deadLetter, reportDeadLetters } from './runner/dead-letters.ts';
import { decodeBatch, type DecodedBatch } from './runner/decode.ts';
import { callHook, type RunnerHooks } from './runner/hooks.ts';
import { writeIsolating } from './runner/isolate.ts';
import { batchMembership, heartbeatMs, onGroupJoin, type BatchMembership } from './runner/membership.ts';
import { createRetrying, type Retrying } from './runner/retry.ts';
import { createWriteSlots, seekBack, type Outcome, type Seek, type WriteSlots } from './runner/write-slots.ts';
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
}

/** The `eachBatch` of a sink's consumer, usable without a broker. */
export interface BatchHandler {
  eachBatch(p: EachBatchPayload): Promise<void>;
  /** Abandons (uncommitted) a batch stuck retrying, as when `signal` aborts. */
  abort(): void;
  /** From now on writes each batch before `eachBatch` returns; resolves once the writes handed off before are over. */
  drain(): Promise<void>;
}

export interface SinkRunner {
  readonly consumer: Consumer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createSinkRunner(d: RunnerDeps): SinkRunner {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const topics = [...new Set(d.sink.handlers.map((h) => h.topic.name))];
  const consumer = d.kafka.consumer({
    groupId: d.groupId, sessionTimeout: d.config.KAFKA_SESSION_TIMEOUT_MS, heartbeatInterval: heartbeatMs(d.config),
    maxBytes: d.config.SINK_FETCH_MAX_BYTES, maxBytesPerPartition: d.config.SINK_FETCH_PARTITION_MAX_BYTES, maxWaitTimeInMs: 1000,
  });
  const stopping = new AbortController();
  const handler = createBatchHandler({
    sink: d.sink, groupId: d.groupId, serde: d.serde, publisher: d.publisher, logger: d.logger, config: d.config, hooks: d.hooks, signal: stopping.signal,
    pipeline: d.config.SINK_PIPELINE, seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
  });

  return {
    consumer,
    async start() {
      callHook(d.hooks, log, 'onMember', { sink: d.sink, groupId: d.groupId, topics: [...topics], consumer });
      await pRetry(() => d.sink.connect(), {
        retries: Infinity, minTimeout: 500, maxTimeout: d.config.SINK_RETRY_MAX_MS, signal: stopping.signal, shouldRetry: ({ error }) => isRetriable(error),
        onFailedAttempt: ({ error }) => log.warn({ err: errorMessage(error) }, 'store not reachable yet; retrying'),
      });
      onGroupJoin(consumer, ({ at, partitions, isLeader }) => {
        log.info({ partitions, leader: isLeader }, 'joined group');
        callHook(d.hooks, log, 'onGroupJoin', { sink: d.sink.name, groupId: d.groupId, at, partitions });
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [...topics], fromBeginning: true });
      // The handler commits each batch's offsets itself once the batch is written (or dead-lettered); kafkajs never
      // commits on its own, so a position fetched ahead of the writes is never committed.
      const partitionsConsumedConcurrently = d.config.SINK_PARTITIONS_CONCURRENCY;
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently, eachBatch: handler.eachBatch });
      log.info({ topics: [...topics] }, 'sink started');
    },
    async stop() {
      // The batch in flight finishes and commits; only one stuck retrying a dead store is abandoned (uncommitted) after the grace period.
      const grace = setTimeout(() => stopping.abort(), 10_000);
      await handler.drain();
      await consumer.disconnect();
      clearTimeout(grace);
      stopping.abort();
      await d.sink.close();
      log.info('sink stopped');
    },
  };
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
  /** Pipelined mode: the write handed off last per partition, and the offsets of written batches waiting for their commit. */
  slots: WriteSlots;
  commits: CommitCoalescer;
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
    retrying: createRetrying({ log, hooks: d.hooks, sink: d.sink.name, groupId: d.groupId, maxTimeoutMs: d.config.SINK_RETRY_MAX_MS }),
    slots: createWriteSlots(), commits: createCommitCoalescer({ intervalMs: d.config.SINK_COMMIT_INTERVAL_MS, log }), inline: !d.pipeline,
  };
  return {
    eachBatch: (p) => eachBatch(c, p),
    abort: () => aborting.abort(),
    async drain() {
      c.inline = true;
      await c.slots.drain();
      await c.commits.flush();
    },
  };
}

/** A batch from its fetch until its write ended. */
interface InHand<T> { h: TopicHandler<T>; p: EachBatchPayload; member: BatchMembership; receivedAt: number }

async function eachBatch(c: Handling, p: EachBatchPayload): Promise<void> {
  const h = c.handlers.get(p.batch.topic);
  if (!h || p.batch.isEmpty()) return;
  const receivedAt = Date.now();
  const { topic, partition } = p.batch;
  // Membership is kept for as long as the batch is in our hands: slow writes, retries of a store that is down (whose
  // back-off can be as long as the session timeout), and the isolation of a rejected batch.
  const member = batchMembership(p, c.signal, heartbeatMs(c.d.config));
  const stopBeating = member.keepAlive();
  let handedOff = false;
  try {
    // Decoding overlaps the write of the batch before (pipelined mode): that one is awaited only after.
    const decoded = await c.retrying('decode', p, member, () => decodeBatch(h, p.batch, c.d.serde, c.d.groupId));
    if (!(await c.slots.turn(topic, partition))) return; // its write was abandoned: the partition is fetched again from that batch's first offset
    if (p.isStale() || c.signal.aborted) return;
    if (c.d.pipeline) p.resolveOffset(p.batch.lastOffset()); // the next fetch goes on past this batch; committed only once written
    const job = finish(c, { h, p, member, receivedAt }, decoded).catch((err: unknown): Outcome => ({ ok: false, error: err })).finally(stopBeating);
    handedOff = true;
    if (c.inline) {
      const outcome = await job;
      if (outcome.error) throw outcome.error;
      return;
    }
    c.slots.handOff(topic, partition, job);
  } catch (err) {
    if (member.abandoned(err)) return;
    throw err;
  } finally {
    if (!handedOff) stopBeating();
  }
}

/** Writes a decoded batch, dead-letters its bad records, then commits past it; settles to how that ended. */
async function finish<T>(c: Handling, b: InHand<T>, decoded: DecodedBatch<T>): Promise<Outcome> {
  try {
    await write(c, b, decoded);
  } catch (err) {
    return failed(c, b, err);
  }
  const { p } = b;
  if (!c.d.pipeline) {
    await commitPast(p);
    return { ok: true };
  }
  c.commits.add(p, p.batch.topic, p.batch.partition, nextOffset(p.batch));
  if (c.inline) await c.commits.flush();
  return { ok: true };
}

/** The store write (isolating a rejected batch), the dead letters' publish, then the onWritten hook. */
async function write<T>(c: Handling, { h, p, member, receivedAt }: InHand<T>, { good, raw, dead }: DecodedBatch<T>): Promise<void> {
  const { topic, partition } = p.batch;
  const origin = { topic, partition, group: c.d.groupId };
  const started = Date.now();
  if (good.length) {
    await writeIsolating(good, {
      write: (records) => c.retrying('store write', p, member, () => h.writeBatch(records)),
      passThrough: (err) => isRetriable(err) || member.abandoned(err),
      rejected: (i, err) => { dead.push(deadLetter(origin, raw[i]!, err)); },
      isolating: (err) => c.log.warn({ topic, partition, offset: p.batch.firstOffset(), records: good.length, err: errorMessage(err) },
        'batch rejected by the store; isolating the bad record(s)'),
    });
  }
  const writtenAt = Date.now();
  if (dead.length) {
    await c.retrying('dead-letter', p, member, () => c.d.publisher.deadLetter(h.topic, dead));
    reportDeadLetters(dead, { log: c.log, hooks: c.d.hooks, sink: c.d.sink.name, origin });
  }
  const timestamps = good.map((r) => r.timestamp);
  callHook(c.d.hooks, c.log, 'onWritten', {
    sink: c.d.sink.name, groupId: c.d.groupId, topic, partition, records: p.batch.messages.length, timestamps,
    receivedAt, writtenAt, writeMs: writtenAt - started,
  });
}

/** How a batch whose write (or dead-lettering) did not end well settles. */
function failed(c: Handling, { p, member }: InHand<unknown>, err: unknown): Outcome {
  if (!c.d.pipeline) return member.abandoned(err) ? { ok: false } : { ok: false, error: err };
  // Handed off: the position is already past this batch; fetch it again (unless this member is stopping).
  if (!seekBack(p, { stopping: c.signal, seek: c.d.seek, log: c.log })) return { ok: false, error: err };
  if (member.abandoned(err)) return { ok: false };
  const { topic, partition } = p.batch;
  c.log.error({ topic, partition, offset: p.batch.firstOffset(), err: errorMessage(err) }, 'batch write failed; the consumer restarts from the last commit');
  return { ok: false, error: err };
}
