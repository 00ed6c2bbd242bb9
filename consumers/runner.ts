// The shared runner owns Kafka for every sink: it consumes a topic-partition batch, decodes and validates each record,
// sends bad records to `<topic>.dlq`, hands the good ones to the sink, and commits offsets only after both succeeded.
// A store that is down is retried with back-off (heartbeating, never skipping); a record at fault is isolated and dead-lettered.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import pRetry from 'p-retry';
import type { Config } from '../lib/config.ts';
import { Headers } from '../lib/dlq.ts';
import { DecodeError, errorClass, errorMessage, isRetriable } from '../lib/errors.ts';
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

export interface SinkRunner {
  readonly consumer: Consumer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const HEARTBEAT_MS = 3000;

export function createSinkRunner(d: RunnerDeps): SinkRunner {
  const log = d.logger.child({ sink: d.sink.name, group: d.groupId });
  const handlers = new Map(d.sink.handlers.map((h) => [h.topic.name, h]));
  const consumer = d.kafka.consumer({ groupId: d.groupId, sessionTimeout: 30_000, heartbeatInterval: HEARTBEAT_MS, maxBytesPerPartition: 2 * 1024 * 1024, maxWaitTimeInMs: 1000 });
  const stopping = new AbortController();

  /** Retries a retriable failure forever with back-off, heartbeating; gives up only when this member stops or loses the partition. */
  const retrying = <T>(what: string, topic: string, p: EachBatchPayload, fn: () => Promise<T>) => pRetry(fn, {
    retries: Infinity, minTimeout: 200, maxTimeout: d.config.SINK_RETRY_MAX_MS, randomize: true, signal: stopping.signal,
    shouldRetry: ({ error }) => isRetriable(error),
    onFailedAttempt: async ({ error, attemptNumber }) => {
      if (!isRetriable(error)) return;
      log.warn({ topic, partition: p.batch.partition, offset: p.batch.firstOffset(), err: errorMessage(error), attempt: attemptNumber }, `${what} failed; pausing this partition and retrying`);
      d.hooks?.onRetry?.({ sink: d.sink.name, groupId: d.groupId, topic, error, attempt: attemptNumber });
      if (!p.isRunning() || p.isStale()) throw new StaleBatch('batch abandoned: member stopping or partition reassigned');
      await p.heartbeat().catch(() => {});
    },
  });

  /** Keeps group membership while a slow write runs. */
  async function withHeartbeat<T>(p: EachBatchPayload, fn: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => { p.heartbeat().catch(() => {}); }, HEARTBEAT_MS);
    try { return await fn(); } finally { clearInterval(timer); }
  }

  async function decodeAll<T>(h: TopicHandler<T>, p: EachBatchPayload, dead: DeadLetter[]) {
    const good: SinkRecord<T>[] = [];
    const raw: KafkaMessage[] = [];
    for (const m of p.batch.messages) {
      const key = m.key?.toString('utf8') ?? null;
      const accept = (value: T | null) => { good.push({ value, key, timestamp: Number(m.timestamp) }); raw.push(m); };
      if (m.value === null) {
        if (h.acceptsTombstones) accept(null);
        else dead.push(deadLetter(p, m, new DecodeError(`tombstone (null value) is not meaningful on ${p.batch.topic}`)));
        continue;
      }
      try {
        const { value } = await d.serde.decode(h.topic, m.value);
        const reason = h.validate?.(value);
        if (reason) dead.push(deadLetter(p, m, new InvalidRecord(reason)));
        else accept(value);
      } catch (err) {
        if (isRetriable(err)) throw err;
        dead.push(deadLetter(p, m, err));
      }
    }
    return { good, raw };
  }

  function deadLetter(p: EachBatchPayload, m: KafkaMessage, error: unknown): DeadLetter {
    return {
      key: m.key?.toString('utf8') ?? null, value: m.value, headers: stringHeaders(m.headers), error,
      origin: { topic: p.batch.topic, partition: p.batch.partition, offset: m.offset, group: d.groupId },
    };
  }

  /** Writes the batch; if the data is at fault, writes record by record and dead-letters the ones at fault. */
  async function write<T>(h: TopicHandler<T>, p: EachBatchPayload, records: SinkRecord<T>[], raw: KafkaMessage[], dead: DeadLetter[]) {
    const once = (rs: SinkRecord<T>[]) => retrying('store write', h.topic.name, p, () => withHeartbeat(p, () => h.writeBatch(rs)));
    try {
      await once(records);
    } catch (err) {
      if (isRetriable(err)) throw err;
      log.warn({ topic: h.topic.name, partition: p.batch.partition, offset: p.batch.firstOffset(), err: errorMessage(err) }, 'batch rejected by the store; isolating the bad record(s)');
      for (const [i, r] of records.entries()) {
        try { await once([r]); } catch (e) {
          if (isRetriable(e)) throw e;
          dead.push(deadLetter(p, raw[i]!, e));
        }
      }
    }
  }

  async function eachBatch(p: EachBatchPayload): Promise<void> {
    const h = handlers.get(p.batch.topic);
    if (!h || p.batch.isEmpty()) return;
    const receivedAt = Date.now();
    try {
      const dead: DeadLetter[] = [];
      const { good, raw } = await retrying('decode', h.topic.name, p, () => { dead.length = 0; return decodeAll(h, p, dead); });
      const started = Date.now();
      if (good.length) await write(h, p, good, raw, dead);
      const writtenAt = Date.now();
      if (dead.length) {
        await retrying('dead-letter', h.topic.name, p, () => d.publisher.deadLetter(h.topic, dead));
        for (const x of dead) {
          log.warn({ topic: p.batch.topic, partition: p.batch.partition, offset: x.origin?.offset, key: x.key, correlationId: x.headers?.[Headers.correlationId], errClass: errorClass(x.error), err: errorMessage(x.error) }, 'record sent to DLQ');
          d.hooks?.onDeadLetter?.({ sink: d.sink.name, groupId: d.groupId, topic: h.topic.name, reason: errorClass(x.error) });
        }
      }
      d.hooks?.onWritten?.({ sink: d.sink.name, groupId: d.groupId, topic: h.topic.name, partition: p.batch.partition, records: p.batch.messages.length, timestamps: good.map((r) => r.timestamp), receivedAt, writtenAt, writeMs: writtenAt - started });
      p.resolveOffset(p.batch.lastOffset());
      await p.commitOffsetsIfNecessary();
    } catch (err) {
      // Stopping or rebalanced away: leave the batch uncommitted; whoever owns the partition next re-reads it.
      if (err instanceof StaleBatch || stopping.signal.aborted) return;
      throw err;
    }
  }

  return {
    consumer,
    async start() {
      d.hooks?.onMember?.({ sink: d.sink, groupId: d.groupId, topics: [...handlers.keys()], consumer });
      await pRetry(() => d.sink.connect(), {
        retries: Infinity, minTimeout: 500, maxTimeout: d.config.SINK_RETRY_MAX_MS, signal: stopping.signal, shouldRetry: ({ error }) => isRetriable(error),
        onFailedAttempt: ({ error }) => log.warn({ err: errorMessage(error) }, 'store not reachable yet; retrying'),
      });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const partitions = Object.values(e.payload.memberAssignment).reduce((n, ps) => n + ps.length, 0);
        log.info({ partitions, leader: e.payload.isLeader }, 'joined group');
        d.hooks?.onGroupJoin?.({ sink: d.sink.name, groupId: d.groupId, at: e.timestamp, partitions });
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [...handlers.keys()], fromBeginning: true });
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: true, partitionsConsumedConcurrently: d.config.SINK_PARTITIONS_CONCURRENCY, eachBatch });
      log.info({ topics: [...handlers.keys()] }, 'sink started');
    },
    async stop() {
      // The batch in flight finishes and commits; only one stuck retrying a dead store is abandoned (uncommitted) after the grace period.
      const grace = setTimeout(() => stopping.abort(), 10_000);
      await consumer.disconnect();
      clearTimeout(grace);
      stopping.abort();
      await d.sink.close();
      log.info('sink stopped');
    },
  };
}

class StaleBatch extends Error {}

/** A record the sink's validation rejected. */
export class InvalidRecord extends Error {
  override name = 'ValidationError';
}

function stringHeaders(h: KafkaMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) out[k] = Array.isArray(v) ? v.map(String).join(',') : v.toString();
  return out;
}
