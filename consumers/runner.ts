// The shared runner owns Kafka for every sink: it consumes a topic-partition batch, decodes and validates each record,
// sends bad records to `<topic>.dlq`, hands the good ones to the sink, and commits offsets only after both succeeded.
// A store that is down is retried with back-off (heartbeating on a timer, never skipping); a record at fault is isolated
// by halving the batch and dead-lettered.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import pRetry from 'p-retry';
import type { Config } from '../lib/config.ts';
import { headersToStrings, RecordHeaders } from '../lib/record-headers.ts';
import { DecodeError, StaleBatchError, ValidationError, errorClass, errorMessage, isRetriable } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import type { Serde } from '../lib/serde.ts';
import type { Sink, SinkRecord, TopicHandler } from './types.ts';

export interface RunnerHooks {
  /** start() was called: this member exists (not yet connected to its store nor joined). For readiness, lag and /health. */
  onMember?(e: { sink: Sink; groupId: string; topics: readonly string[]; consumer: Consumer }): void;
  /**
   * After a batch was written (and its bad records dead-lettered), before its offsets are committed.
   * `records` counts the whole batch; `timestamps` only the records written to the store.
   */
  onWritten?(e: { sink: string; groupId: string; topic: string; partition: number; records: number; timestamps: number[]; receivedAt: number; writtenAt: number; writeMs: number }): void;
  /** This member joined its group (again, after a rebalance) and got its partitions. */
  onGroupJoin?(e: { sink: string; groupId: string; at: number; partitions: number }): void;
  onDeadLetter?(e: { sink: string; groupId: string; topic: string; reason: string }): void;
  onRetry?(e: { sink: string; groupId: string; topic: string; error: unknown; attempt: number }): void;
}

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
  seek?(topic: string, partition: number, offset: string): void;
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

/** Heartbeats every tenth of the session timeout (kafkajs's own minimum spacing is the consumer's heartbeatInterval). */
const heartbeatMs = (config: Config) => Math.max(500, Math.floor(config.KAFKA_SESSION_TIMEOUT_MS / 10));

export function createSinkRunner(d: RunnerDeps): SinkRunner {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const topics = [...new Set(d.sink.handlers.map((h) => h.topic.name))];
  const consumer = d.kafka.consumer({ groupId: d.groupId, sessionTimeout: d.config.KAFKA_SESSION_TIMEOUT_MS, heartbeatInterval: heartbeatMs(d.config), maxBytes: d.config.SINK_FETCH_MAX_BYTES, maxBytesPerPartition: d.config.SINK_FETCH_PARTITION_MAX_BYTES, maxWaitTimeInMs: 1000 });
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
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const partitions = Object.values(e.payload.memberAssignment).reduce((n, ps) => n + ps.length, 0);
        log.info({ partitions, leader: e.payload.isLeader }, 'joined group');
        callHook(d.hooks, log, 'onGroupJoin', { sink: d.sink.name, groupId: d.groupId, at: e.timestamp, partitions });
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [...topics], fromBeginning: true });
      // The handler commits each batch's offsets itself once the batch is written (or dead-lettered); kafkajs never
      // commits on its own, so a position fetched ahead of the writes is never committed.
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently: d.config.SINK_PARTITIONS_CONCURRENCY, eachBatch: handler.eachBatch });
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

/**
 * Handles one topic-partition batch: decode and validate, write the good records, dead-letter the bad ones, then
 * resolve and commit. Returns without committing when the batch is abandoned (member stopping, partition reassigned).
 */
export function createBatchHandler(d: BatchHandlerDeps): BatchHandler {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const handlers = new Map(d.sink.handlers.map((h) => [h.topic.name, h]));
  const aborting = new AbortController();
  const signal = d.signal ? AbortSignal.any([aborting.signal, d.signal]) : aborting.signal;
  /** This member stopped or lost the partition: leave the batch uncommitted; whoever owns the partition next re-reads it. */
  /**
   * One per batch: aborted when a heartbeat learns that the group is rebalancing (a member joined or left). A batch
   * still retrying (store or registry down) is then abandoned, uncommitted, so this member can rejoin in time instead
   * of being evicted; whoever owns the partition afterwards reads it again.
   */
  const rebalanced = new WeakMap<EachBatchPayload, AbortController>();
  const batchSignal = (p: EachBatchPayload) => {
    let c = rebalanced.get(p);
    if (!c) { c = new AbortController(); rebalanced.set(p, c); }
    return AbortSignal.any([signal, c.signal]);
  };
  const abandoned = (err: unknown, p?: EachBatchPayload) => err instanceof StaleBatchError || signal.aborted || (p !== undefined && rebalanced.get(p)?.signal.aborted === true);
  async function heartbeat(p: EachBatchPayload): Promise<void> {
    try {
      await p.heartbeat();
    } catch (err) {
      const type = (err as { type?: unknown } | null)?.type;
      if (type === 'REBALANCE_IN_PROGRESS' || type === 'ILLEGAL_GENERATION' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'UNKNOWN_MEMBER_ID') {
        rebalanced.get(p)?.abort();
      }
    }
  }

  /** Retries a retriable failure forever with back-off, heartbeating; gives up only when this member stops or loses the partition. */
  const retrying = <T>(what: string, topic: string, p: EachBatchPayload, fn: () => Promise<T>) => pRetry(fn, {
    retries: Infinity, minTimeout: 200, maxTimeout: d.config.SINK_RETRY_MAX_MS, randomize: true, signal: batchSignal(p),
    shouldRetry: ({ error }) => isRetriable(error),
    onFailedAttempt: async ({ error, attemptNumber }) => {
      if (!isRetriable(error)) return;
      log.warn({ topic, partition: p.batch.partition, offset: p.batch.firstOffset(), err: errorMessage(error), attempt: attemptNumber }, `${what} failed; pausing this partition and retrying`);
      callHook(d.hooks, log, 'onRetry', { sink: d.sink.name, groupId: d.groupId, topic, error, attempt: attemptNumber });
      if (!p.isRunning() || p.isStale()) throw new StaleBatchError();
      await heartbeat(p);
      if (rebalanced.get(p)?.signal.aborted) throw new StaleBatchError('batch abandoned: the group is rebalancing');
    },
  });

  async function decodeAll<T>(h: TopicHandler<T>, p: EachBatchPayload, dead: DeadLetter[]) {
    const good: SinkRecord<T>[] = [];
    const raw: KafkaMessage[] = [];
    const { topic, partition } = p.batch;
    for (const m of p.batch.messages) {
      if (m.value === null) {
        if (h.acceptsTombstones) { good.push(new Received<T>(m, null, topic, partition)); raw.push(m); }
        else dead.push(deadLetter(p, m, new DecodeError(`tombstone (null value) is not meaningful on ${topic}`)));
        continue;
      }
      try {
        const { value } = d.serde.decodeKnown(h.topic, m.value) ?? await d.serde.decode(h.topic, m.value);
        const reason = h.validate?.(value);
        if (reason) dead.push(deadLetter(p, m, new ValidationError(reason)));
        else { good.push(new Received(m, value, topic, partition)); raw.push(m); }
      } catch (err) {
        if (isRetriable(err)) throw err;
        dead.push(deadLetter(p, m, err));
      }
    }
    return { good, raw };
  }

  function deadLetter(p: EachBatchPayload, m: KafkaMessage, error: unknown): DeadLetter {
    return {
      key: m.key?.toString('utf8') ?? null, value: m.value, headers: headersToStrings(m.headers), error,
      origin: { topic: p.batch.topic, partition: p.batch.partition, offset: m.offset, group: d.groupId },
    };
  }

  /**
   * Writes the batch; when the store rejects it as data, halves it (each half in offset order, the first before the
   * second) until every rejected record stands alone, and dead-letters those: one bad record among n costs about
   * 2·log2(n) writes, not n.
   */
  async function write<T>(h: TopicHandler<T>, p: EachBatchPayload, records: SinkRecord<T>[], raw: KafkaMessage[], dead: DeadLetter[]) {
    const isolate = async (from: number, to: number): Promise<void> => {
      try {
        await retrying('store write', h.topic.name, p, () => h.writeBatch(records.slice(from, to)));
      } catch (err) {
        if (isRetriable(err) || abandoned(err, p)) throw err;
        if (to - from === 1) { dead.push(deadLetter(p, raw[from]!, err)); return; }
        if (to - from === records.length) log.warn({ topic: h.topic.name, partition: p.batch.partition, offset: p.batch.firstOffset(), records: records.length, err: errorMessage(err) }, 'batch rejected by the store; isolating the bad record(s)');
        const mid = from + Math.ceil((to - from) / 2);
        await isolate(from, mid);
        await isolate(mid, to);
      }
    };
    await isolate(0, records.length);
  }

  /**
   * Pipelined mode: per topic-partition, the write handed off last, settling to how it ended. A batch's write starts
   * only after the one before it ended well; when that one was abandoned or failed, the partition is fetched again
   * from the first unwritten offset.
   */
  const inFlight = new Map<string, Promise<Outcome>>();
  let inline = !d.pipeline;

  async function eachBatch(p: EachBatchPayload): Promise<void> {
    const h = handlers.get(p.batch.topic);
    if (!h || p.batch.isEmpty()) return;
    const receivedAt = Date.now();
    const slot = `${p.batch.topic}|${p.batch.partition}`;
    // Membership is kept for as long as the batch is in our hands: slow writes, retries of a store that is down (whose
    // back-off can be as long as the session timeout), and the isolation of a rejected batch.
    batchSignal(p);
    const beat = setInterval(() => { void heartbeat(p); }, heartbeatMs(d.config));
    let handedOff = false;
    try {
      const dead: DeadLetter[] = [];
      // Decoding overlaps the write of the batch before (pipelined mode): that one is awaited only after.
      const { good, raw } = await retrying('decode', h.topic.name, p, () => { dead.length = 0; return decodeAll(h, p, dead); });
      const before = await inFlight.get(slot);
      if (before && !before.ok) {
        inFlight.delete(slot);
        if (before.error) throw before.error; // as if this batch had failed: kafkajs restarts from the last commit
        return; // its write was abandoned: the partition is fetched again from that batch's first offset
      }
      if (p.isStale() || signal.aborted) return;
      if (d.pipeline) p.resolveOffset(p.batch.lastOffset()); // the next fetch goes on past this batch; committed only once written
      const job = finish(h, p, good, raw, dead, receivedAt).catch((err: unknown): Outcome => ({ ok: false, error: err })).finally(() => clearInterval(beat));
      handedOff = true;
      if (inline) {
        const outcome = await job;
        if (outcome.error) throw outcome.error;
        return;
      }
      inFlight.set(slot, job);
    } catch (err) {
      if (abandoned(err, p)) return;
      throw err;
    } finally {
      if (!handedOff) clearInterval(beat);
    }
  }

  /** Writes a decoded batch, dead-letters its bad records, then commits past it; settles to how that ended. */
  async function finish<T>(h: TopicHandler<T>, p: EachBatchPayload, good: SinkRecord<T>[], raw: KafkaMessage[], dead: DeadLetter[], receivedAt: number): Promise<Outcome> {
    const { topic, partition } = p.batch;
    try {
      const started = Date.now();
      if (good.length) await write(h, p, good, raw, dead);
      const writtenAt = Date.now();
      if (dead.length) {
        await retrying('dead-letter', h.topic.name, p, () => d.publisher.deadLetter(h.topic, dead));
        for (const x of dead) {
          log.warn({ topic, partition, offset: x.origin?.offset, key: x.key, correlationId: x.headers?.[RecordHeaders.correlationId], errClass: errorClass(x.error), err: errorMessage(x.error) }, 'record sent to DLQ');
          callHook(d.hooks, log, 'onDeadLetter', { sink: d.sink.name, groupId: d.groupId, topic: h.topic.name, reason: errorClass(x.error) });
        }
      }
      callHook(d.hooks, log, 'onWritten', { sink: d.sink.name, groupId: d.groupId, topic: h.topic.name, partition, records: p.batch.messages.length, timestamps: good.map((r) => r.timestamp), receivedAt, writtenAt, writeMs: writtenAt - started });
    } catch (err) {
      if (!d.pipeline) return abandoned(err, p) ? { ok: false } : { ok: false, error: err };
      // Handed off: the position is already past this batch. Fetch it again unless this member is stopping (then
      // whoever owns the partition next reads it from the last commit).
      try {
        if (!signal.aborted && p.isRunning()) d.seek?.(topic, partition, p.batch.firstOffset()!);
      } catch (seekErr) {
        log.warn({ topic, partition, err: errorMessage(seekErr) }, 'could not seek back to an unwritten batch; the consumer restarts from the last commit');
        return { ok: false, error: err };
      }
      if (abandoned(err, p)) return { ok: false };
      log.error({ topic, partition, offset: p.batch.firstOffset(), err: errorMessage(err) }, 'batch write failed; the consumer restarts from the last commit');
      return { ok: false, error: err };
    }
    const next = (BigInt(p.batch.lastOffset()) + 1n).toString();
    if (!d.pipeline) {
      p.resolveOffset(p.batch.lastOffset());
      await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
      return { ok: true };
    }
    commitLater(p, topic, partition, next);
    if (inline) await flushCommits();
    return { ok: true };
  }

  /**
   * Pipelined mode: offsets of written batches wait up to SINK_COMMIT_INTERVAL_MS and go in one OffsetCommit for all
   * of the member's partitions (at 1,000 records/s a commit per batch would be hundreds a second). Commits are sent one
   * at a time, in order. A commit that fails (the group is rebalancing, this member left) is tried again with the next
   * one unless a newer offset replaced it; meanwhile the records would be read again, and writing them again changes nothing.
   */
  const toCommit = new Map<string, { topic: string; partition: number; offset: string }>();
  let commitVia: EachBatchPayload | undefined;
  let commitTimer: NodeJS.Timeout | undefined;
  let commits: Promise<void> = Promise.resolve();
  function commitLater(p: EachBatchPayload, topic: string, partition: number, offset: string): void {
    toCommit.set(`${topic}|${partition}`, { topic, partition, offset });
    commitVia = p;
    commitTimer ??= setTimeout(() => { commitTimer = undefined; void flushCommits(); }, d.config.SINK_COMMIT_INTERVAL_MS);
  }
  function flushCommits(): Promise<void> {
    clearTimeout(commitTimer);
    commitTimer = undefined;
    commits = commits.then(async () => {
      const via = commitVia;
      if (!toCommit.size || !via) return;
      const taken = [...toCommit];
      toCommit.clear();
      const topics = [...new Set(taken.map(([, c]) => c.topic))].map((topic) => ({ topic, partitions: taken.filter(([, c]) => c.topic === topic).map(([, c]) => ({ partition: c.partition, offset: c.offset })) }));
      try {
        await via.commitOffsetsIfNecessary({ topics });
      } catch (err) {
        for (const [k, c] of taken) if (!toCommit.has(k)) toCommit.set(k, c);
        log.debug({ err: errorMessage(err), partitions: taken.length }, 'commit after the write failed; tried again with the next one');
      }
    });
    return commits;
  }

  async function drain(): Promise<void> {
    inline = true;
    await Promise.all(inFlight.values());
    await flushCommits();
  }

  return { eachBatch, abort: () => aborting.abort(), drain };
}

/** How a batch's write ended: written and committed (`ok`), abandoned (member stopping, group rebalancing), or `error`. */
interface Outcome { ok: boolean; error?: unknown }

/** A decoded record as a sink sees it; the key is decoded only when a sink asks for it (price sinks never do). */
class Received<T> implements SinkRecord<T> {
  readonly value: T | null;
  readonly timestamp: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly #m: KafkaMessage;
  constructor(m: KafkaMessage, value: T | null, topic: string, partition: number) {
    this.#m = m;
    this.value = value;
    this.timestamp = Number(m.timestamp);
    this.topic = topic;
    this.partition = partition;
    this.offset = m.offset;
  }
  get key(): string | null { return this.#m.key?.toString('utf8') ?? null; }
}

type HookEvent<K extends keyof RunnerHooks> = Parameters<NonNullable<RunnerHooks[K]>>[0];

/** Calls a hook if set; a hook that throws (or rejects) is logged and ignored: observability never fails a batch. */
function callHook<K extends keyof RunnerHooks>(hooks: RunnerHooks | undefined, log: Logger, name: K, e: HookEvent<K>): void {
  const warn = (err: unknown) => log.warn({ hook: name, err: errorMessage(err) }, `runner hook ${name} threw; ignored`);
  const fn = hooks?.[name] as ((e: HookEvent<K>) => unknown) | undefined;
  if (!fn) return;
  try {
    const r = fn.call(hooks, e);
    if (r instanceof Promise) r.catch(warn);
  } catch (err) {
    warn(err);
  }
}
