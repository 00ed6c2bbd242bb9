// Publishing typed records: encodes with the serde, keys by topic.key(value), adds the standard headers, and sends with
// the idempotent producer (acks from all in-sync replicas). Also tombstones, records as bytes (sendRaw: `dlq redrive`, tests),
// and dead-lettering of raw bytes to `<topic>.dlq`.
//
// Each kafkajs send carries the records of ONE partition (the publisher partitions them itself, with the producers'
// murmur2 partitioner). kafkajs 2.2.4 keeps the answers of the brokers that acknowledged a multi-broker send across its
// retries, so when a leader dies mid-send and its partitions move to a broker that had already answered, it never sends
// them again and the send resolves anyway: those records are lost (seen here: 248 of 50,000 when a broker was SIGKILLed;
// tulios/kafkajs#1798). One leader per send makes its retries go to the new leader. A send kafkajs gives up on is sent
// again with the same records; kafkajs rolled their sequence numbers back, so a batch the broker had in fact written is
// recognized as a duplicate and not written twice. Sends to one partition never overlap (sequence numbers stay in step).
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { CompressionTypes, Partitioners, type IHeaders, type Kafka, type Message, type PartitionMetadata, type Producer } from 'kafkajs';
import { DlqHeaders, dlqHeaders, type RecordOrigin } from './dlq.ts';
import { RecordHeaders, standardHeaders } from './record-headers.ts';
import { inPublishSpan, tracingOn } from './tracing.ts';
import { errorMessage } from './errors.ts';
import { createIdempotentProducer, someKafkaError } from './kafka.ts';
import type { Logger } from './logger.ts';
import type { Serde } from './serde.ts';
import type { TopicDef } from '../topics/index.ts';

const { ConfigResourceTypes } = kafkajs;

/**
 * How long a partition's batch is sent again after kafkajs gave up on it (each try is kafkajs' own retries, about 30 s
 * with lib/kafka's settings): long enough for a leader election after a broker died, bounded so a producer whose
 * cluster is gone fails (and tries again on its next tick) instead of hanging.
 */
export const SEND_RETRY_MS = 60_000;
/** A topic's partition count is read again after this long (partitions may be added). */
const PARTITION_COUNT_TTL_MS = 60_000;

export interface SendMeta {
  source: string;
  correlationId?: string;
  /**
   * Per record (`send`: by the index of its value; `sendTombstone`: [0]): headers beside the standard ones (e.g. the
   * enricher's `marketstream-source-version`), and its Kafka timestamp (epoch ms; default: when it is sent).
   */
  records?: readonly (RecordMeta | undefined)[];
}

/** What one record adds to its SendMeta. */
export interface RecordMeta { headers?: Record<string, string>; timestamp?: number }

export interface DeadLetter {
  key: string | null;
  value: Buffer | null;
  /** The original record's headers; kept on the DLQ record. */
  headers?: Record<string, string>;
  error: unknown;
  /** Where a consumer read it; absent when a producer rejects a record before publishing. */
  origin?: RecordOrigin;
}

/** Where the offsets of a transactional dead-lettering go: group, partition of topic.name, and the offset past the batch. */
export interface DeadLetterCommit {
  groupId: string;
  partition: number;
  offset: string;
  /**
   * First of this partition in the member's assignment: start the partition's transactional producer anew, which fences
   * the previous owner's (Kafka aborts its open transaction and refuses its later ones), then read what the group has
   * committed: dead letters the previous owner already published with their offsets are not published again.
   */
  fence: boolean;
}

/** `behind`: the group had already committed past the batch (the previous owner published and committed it): nothing was sent. */
export interface DeadLetterCommitted { published: number; behind: boolean }

/**
 * How long a dead-letter transaction may stay open before the broker aborts it (a member SIGKILLed mid-transaction
 * whose partition nobody takes over; until then, read_committed readers of that DLQ partition wait).
 */
export const DLQ_TRANSACTION_TIMEOUT_MS = 15_000;

/** The transactional id of a group's dead letters of one partition: the same for every owner of it, so each fences the last. */
export const dlqTransactionalId = (groupId: string, topic: string, partition: number): string => `marketstream-dlq.${groupId}.${topic}.${partition}`;

/** A record as bytes: what `sendRaw` sends. */
export interface RawRecord {
  key: Buffer | string | null;
  value: Buffer | null;
  headers?: IHeaders;
  /** Default: the key's partition (murmur2, like the Java client). */
  partition?: number;
  /** Kafka timestamp (epoch ms); default: when the broker's producer request is made. */
  timestamp?: string;
}

export interface Publisher {
  connect(): Promise<void>;
  /**
   * Encodes (serde) and sends with key = topic.key(value) and the standard headers (one correlation id per call unless
   * given). Small arrays go in one kafkajs send; large ones in consecutive chunks, so per-key order is kept.
   * A value that does not fit the schema throws ValidationError before anything is sent.
   */
  send<T>(topic: TopicDef<T>, values: readonly T[], meta: SendMeta): Promise<void>;
  /** Null-value record (tombstone) for a key. */
  sendTombstone(topic: TopicDef<unknown>, key: string, meta: SendMeta): Promise<void>;
  /**
   * Records as they are (key, value bytes or null, headers; a partition or timestamp when given) to a topic by name,
   * partitioned like `send`: one partition per kafkajs send, in chunks that fit the topic's max.message.bytes, with the
   * same retries. Per-key order is kept.
   */
  sendRaw(topic: string, records: readonly RawRecord[]): Promise<void>;
  /** Raw bytes to `<topic>.dlq` with the reason in headers (never throws away the original bytes). */
  deadLetter(topic: TopicDef<unknown>, records: readonly DeadLetter[]): Promise<void>;
  /**
   * A consumer's dead letters of one partition batch and the group's offset past that batch, in ONE Kafka transaction:
   * a reader of the DLQ at read_committed (kafkajs's default) sees them once, also when the member dies between the
   * publish and the commit (its open transaction is aborted) or loses the partition (see DeadLetterCommit.fence).
   */
  deadLetterCommitting(topic: TopicDef<unknown>, records: readonly DeadLetter[], at: DeadLetterCommit): Promise<DeadLetterCommitted>;
  disconnect(): Promise<void>;
}

/** A message with its record's own headers and timestamp, when it has any. */
function withRecordMeta(m: Message & { headers: Record<string, string> }, r: RecordMeta | undefined): Message {
  if (!r) return m;
  return { ...m, ...(r.headers ? { headers: { ...m.headers, ...r.headers } } : {}), ...(r.timestamp === undefined ? {} : { timestamp: String(r.timestamp) }) };
}

/** Most messages per kafkajs send: large enough to amortize a round trip. */
export const SEND_CHUNK = 4000;
/** Most record bytes (key, value, headers) per send, so one partition's batch stays under the broker's 1 MB default even when every key is the same. */
export const SEND_CHUNK_BYTES = 512 * 1024;
/** Kafka's default max.message.bytes, assumed when a topic's own setting cannot be read. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Room left in a batch for the record batch header and the records' varint overheads. */
const BATCH_MARGIN = 16 * 1024;

/** Bytes one record adds to a record batch (key, value, headers and their framing), a close upper estimate. */
export function recordBytes(m: Message): number {
  let n = 24 + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += 8 + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : (v as Buffer | undefined)?.length ?? 0);
  }
  return n;
}

export function createPublisher(deps: { kafka: Kafka; serde: Serde; logger: Logger; chunkSize?: number }): Publisher {
  const log = deps.logger.child({ component: 'publisher' });
  const chunk = deps.chunkSize ?? SEND_CHUNK;

  // The idempotent producer. After a send failed for good, its partition's sequence numbers may be out of step with the
  // broker's (the batch may have been written although no answer came): the next sends use a new producer (new
  // producer id, sequences from 0), and the old one is disconnected once its sends in flight are done.
  interface Handle { producer: Producer; connecting?: Promise<void>; connected: boolean; inflight: number; retired: boolean }
  const newHandle = (): Handle => ({ producer: createIdempotentProducer(deps.kafka), connected: false, inflight: 0, retired: false });
  let current = newHandle();
  const retire = (h: Handle) => {
    if (h.retired) return;
    h.retired = true;
    if (current === h) current = newHandle();
    if (h.inflight === 0) void h.producer.disconnect().catch(() => undefined);
  };
  async function withProducer<T>(fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = current;
    if (!h.connected) {
      h.connecting ??= h.producer.connect().then(() => { h.connected = true; }).finally(() => { h.connecting = undefined; });
      await h.connecting;
    }
    h.inflight++;
    try {
      return await fn(h);
    } finally {
      h.inflight--;
      if (h.retired && h.inflight === 0) void h.producer.disconnect().catch(() => undefined);
    }
  }

  // One send at a time per partition, across every caller of this publisher.
  const tails = new Map<string, Promise<unknown>>();
  function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => { if (tails.get(key) === tail) tails.delete(key); });
    return next;
  }

  /** One partition's batch, sent again with the same records (and so the same sequence numbers) for up to SEND_RETRY_MS. */
  function sendToPartition(topic: string, partition: number, messages: Message[]): Promise<void> {
    return serialized(`${topic}\u0000${partition}`, async () => {
      const deadline = Date.now() + SEND_RETRY_MS;
      for (let attempt = 1; ; attempt++) {
        let used: Handle | undefined;
        try {
          await withProducer((h) => { used = h; return h.producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None }); });
          if (attempt > 1) log.info({ topic, partition, records: messages.length, attempt }, 'send succeeded after a retry');
          return;
        } catch (err) {
          const pause = Math.min(5000, 250 * 2 ** (attempt - 1));
          if (!worthRetrying(err) || Date.now() + pause > deadline) {
            if (used) retire(used);
            throw err;
          }
          log.warn({ topic, partition, records: messages.length, attempt, err: errorMessage(err) },
            'send failed; sending the same records again (same producer id and sequence numbers: a batch the broker already wrote is not written twice)');
          await sleep(pause);
        }
      }
    });
  }

  const partitioner = Partitioners.DefaultPartitioner();
  interface Count { known?: number; at: number; first?: Promise<number>; refreshing?: boolean }
  const counts = new Map<string, Count>();
  /**
   * The topic's partition count, as kafkajs would partition by: read from the broker once, then again in the background
   * when a minute old (the known count is used meanwhile, and kept when the read fails, e.g. while a broker is down).
   */
  function partitionCount(topic: string): Promise<number> {
    const c = counts.get(topic);
    if (c?.known !== undefined) {
      if (Date.now() - c.at >= PARTITION_COUNT_TTL_MS && !c.refreshing) {
        c.refreshing = true;
        readPartitionCount(deps.kafka, topic)
          .then((n) => { c.known = n; },
            (err: unknown) => log.debug({ topic, err: errorMessage(err) }, 'cannot read the partition count again; keeping the one known'))
          .finally(() => { c.at = Date.now(); c.refreshing = false; });
      }
      return Promise.resolve(c.known);
    }
    if (c?.first) return c.first;
    const entry: Count = { at: 0 };
    entry.first = readPartitionCount(deps.kafka, topic).then((n) => {
      Object.assign(entry, { known: n, at: Date.now(), first: undefined });
      return n;
    }, (err: unknown) => {
      counts.delete(topic);
      throw err;
    });
    counts.set(topic, entry);
    return entry.first;
  }

  /**
   * Partitions the records (a record that names its partition keeps it), then sends each partition's records in
   * consecutive chunks of at most `chunk` records and `maxBytes`, partitions concurrently. Records of one key stay in order.
   * When a partition's send fails for good, the other partitions still finish; then the first error is thrown.
   */
  async function sendChunked(topic: string, messages: Message[], maxBytes = SEND_CHUNK_BYTES): Promise<void> {
    if (messages.length === 0) return;
    const n = await partitionCount(topic);
    const partitionMetadata: PartitionMetadata[] = Array.from({ length: n }, (_, i) => ({
      partitionErrorCode: 0, partitionId: i, leader: 0, replicas: [0], isr: [0], offlineReplicas: [],
    }));
    const byPartition = new Map<number, Message[]>();
    for (const m of messages) {
      const partition = m.partition ?? partitioner({ topic, partitionMetadata, message: m });
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push(m.partition === partition ? m : { ...m, partition });
    }
    const results = await Promise.allSettled([...byPartition].map(async ([partition, list]) => {
      for (const slice of inChunks(list, chunk, maxBytes)) await sendToPartition(topic, partition, slice);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  const maxBytes = new Map<string, Promise<number>>();
  /** The topic's max.message.bytes, read once from the broker (Kafka's default when it cannot be read). */
  function maxMessageBytes(topic: string): Promise<number> {
    let p = maxBytes.get(topic);
    if (!p) {
      p = readMaxMessageBytes(deps.kafka, topic).catch((err: unknown) => {
        log.warn({ topic, err: errorMessage(err) }, 'cannot read max.message.bytes; assuming Kafka\'s default');
        maxBytes.delete(topic);
        return DEFAULT_MAX_MESSAGE_BYTES;
      });
      maxBytes.set(topic, p);
    }
    return p;
  }

  /** Most record bytes per send to `topic`: SEND_CHUNK_BYTES, less when the topic's max.message.bytes is smaller. */
  async function chunkBytes(topic: string): Promise<number> {
    return Math.min(SEND_CHUNK_BYTES, (await maxMessageBytes(topic)) - BATCH_MARGIN);
  }

  /** The DLQ records of `records`: the reason in headers, each fitted to `limit` bytes. */
  function dlqMessages(topic: TopicDef<unknown>, records: readonly DeadLetter[], limit: number): Message[] {
    const now = new Date();
    return records.map((r) => fitted({
      key: r.key,
      value: r.value,
      headers: dlqHeaders({ error: r.error, topic: topic.name, origin: r.origin, original: r.headers, now }),
    }, limit));
  }

  // One transactional producer per (group, partition) dead letters come from, used by one transaction at a time.
  const transactional = new Map<string, { producer?: Producer; chain: Promise<unknown> }>();

  async function inTransaction(t: { producer?: Producer }, id: string, topic: TopicDef<unknown>, records: readonly DeadLetter[],
    at: DeadLetterCommit): Promise<DeadLetterCommitted> {
    let todo = records;
    if (at.fence || !t.producer) {
      const old = t.producer;
      t.producer = undefined;
      await old?.disconnect().catch(() => undefined);
      const producer = deps.kafka.producer({
        transactionalId: id, idempotent: true, maxInFlightRequests: 1, transactionTimeout: DLQ_TRANSACTION_TIMEOUT_MS, allowAutoTopicCreation: false,
      });
      await producer.connect(); // InitProducerId: the previous owner's producer of this id is fenced, its open transaction aborted
      t.producer = producer;
      // Fenced now: what the group has committed can no longer move under us. What lies before it was published already.
      const committed = await committedOffset(deps.kafka, at.groupId, topic.name, at.partition);
      if (committed >= BigInt(at.offset)) return { published: 0, behind: true };
      todo = records.filter((r) => r.origin === undefined || BigInt(r.origin.offset) >= committed);
    }
    const producer = t.producer;
    const limit = await chunkBytes(topic.dlq);
    const tx = await producer.transaction();
    try {
      for (const slice of inChunks(dlqMessages(topic, todo, limit), chunk, limit)) await tx.send({ topic: topic.dlq, messages: slice, acks: -1 });
      await tx.sendOffsets({ consumerGroupId: at.groupId, topics: [{ topic: topic.name, partitions: [{ partition: at.partition, offset: at.offset }] }] });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      // Fenced by the partition's next owner, or in a state kafkajs cannot tell: the next try starts a new producer.
      if (t.producer === producer) t.producer = undefined;
      void producer.disconnect().catch(() => undefined);
      throw err;
    }
    log.debug({ topic: topic.dlq, count: todo.length, partition: at.partition, offset: at.offset }, 'records dead-lettered and committed in one transaction');
    return { published: todo.length, behind: false };
  }

  return {
    async connect() {
      await withProducer(async () => undefined);
      log.debug('producer connected');
    },

    async send(topic, values, meta) {
      if (values.length === 0) return;
      const encode = await deps.serde.encoder(topic);
      const standard = standardHeaders(meta);
      const publish = async (traceHeaders?: Record<string, string>) => {
        const headers = traceHeaders ? { ...standard, ...traceHeaders } : standard;
        // Encode everything first: a value that does not fit the schema throws before anything is published.
        const messages: Message[] = new Array(values.length);
        for (let i = 0; i < values.length; i++) {
          const v = values[i]!;
          messages[i] = withRecordMeta({ key: topic.key(v), value: encode(v), headers }, meta.records?.[i]);
        }
        await sendChunked(topic.name, messages);
      };
      // Tracing on: one span per call, its trace id the call's correlation id, its traceparent on every record.
      if (tracingOn()) await inPublishSpan(topic.name, standard[RecordHeaders.correlationId]!, values.length, publish);
      else await publish();
      log.debug({ topic: topic.name, count: values.length }, 'records sent');
    },

    async sendTombstone(topic, key, meta) {
      await sendChunked(topic.name, [withRecordMeta({ key, value: null, headers: standardHeaders(meta) }, meta.records?.[0])]);
    },

    async sendRaw(topic, records) {
      if (records.length === 0) return;
      const messages: Message[] = records.map((r) => ({
        key: r.key, value: r.value, headers: r.headers,
        ...(r.partition === undefined ? {} : { partition: r.partition }), ...(r.timestamp === undefined ? {} : { timestamp: r.timestamp }),
      }));
      await sendChunked(topic, messages, await chunkBytes(topic));
      log.debug({ topic, count: records.length }, 'raw records sent');
    },

    async deadLetter(topic, records) {
      if (records.length === 0) return;
      // Chunks fit the DLQ topic's max.message.bytes, so a flood of bad records never makes one request it refuses.
      const send = async () => {
        const limit = await chunkBytes(topic.dlq);
        await sendChunked(topic.dlq, dlqMessages(topic, records, limit), limit);
      };
      try {
        await send();
      } catch (err) {
        // The topic's limit is below the one read (lowered since, or not yet applied on every broker when it was read):
        // read it again and fit the records to it, once. A limit nothing fits still fails, as before.
        if (!isMessageTooLarge(err)) throw err;
        log.warn({ topic: topic.dlq, err: errorMessage(err) }, 'the DLQ refused a record as too large: reading its max.message.bytes again');
        maxBytes.delete(topic.dlq);
        await send();
      }
      log.debug({ topic: topic.dlq, count: records.length }, 'records dead-lettered');
    },

    deadLetterCommitting(topic, records, at) {
      const id = dlqTransactionalId(at.groupId, topic.name, at.partition);
      let t = transactional.get(id);
      if (!t) transactional.set(id, (t = { chain: Promise.resolve() }));
      const slot = t;
      const run = slot.chain.then(() => inTransaction(slot, id, topic, records, at));
      slot.chain = run.catch(() => undefined);
      return run;
    },

    async disconnect() {
      const producers = [...transactional.values()].map((t) => t.producer);
      transactional.clear();
      await Promise.all(producers.map((p) => p?.disconnect().catch(() => undefined)));
      const h = current;
      h.retired = true;
      current = newHandle();
      await h.connecting?.catch(() => undefined);
      await h.producer.disconnect();
    },
  };
}

/**
 * Consecutive slices of `list`, each of at most `maxCount` messages and `maxBytes` record bytes (a message larger than
 * that alone in its slice), in order. Nothing for an empty list.
 */
function* inChunks(list: readonly Message[], maxCount: number, maxBytes: number): Generator<Message[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < list.length; i++) {
    const size = recordBytes(list[i]!);
    if (i > start && (i - start >= maxCount || bytes + size > maxBytes)) {
      yield list.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < list.length) yield list.slice(start);
}

/**
 * A dead letter too large for its topic: drops the original value (keeping its size and hash), then the original
 * headers (keeping the DLQ's own and their size), then the key (keeping its size and hash), until it fits.
 */
function fitted(m: Message, limit: number): Message {
  if (recordBytes(m) <= limit) return m;
  const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  let out = m;
  if (out.value) {
    const value = out.value as Buffer;
    out = { ...out, value: null, headers: { ...out.headers, [DlqHeaders.originalValueBytes]: String(value.length), [DlqHeaders.originalValueSha256]: sha256(value) } };
    if (recordBytes(out) <= limit) return out;
  }
  const dlqNames = new Set<string>(Object.values(DlqHeaders));
  const own = Object.entries(out.headers ?? {}).filter(([k]) => !dlqNames.has(k));
  if (own.length) {
    const bytes = recordBytes({ key: null, value: null, headers: Object.fromEntries(own) }) - recordBytes({ key: null, value: null });
    out = { ...out, headers: { ...Object.fromEntries(Object.entries(out.headers ?? {}).filter(([k]) => dlqNames.has(k))), [DlqHeaders.originalHeadersBytes]: String(bytes) } };
    if (recordBytes(out) <= limit) return out;
  }
  if (out.key) {
    const key = out.key;
    out = { ...out, key: null, headers: { ...out.headers, [DlqHeaders.originalKeyBytes]: String(Buffer.byteLength(key)), [DlqHeaders.originalKeySha256]: sha256(key) } };
  }
  return out;
}

/**
 * Worth sending again: kafkajs ran out of retries on errors it retries itself (connection lost, leader moved, not
 * enough in-sync replicas yet), or threw one it marks retriable. Not: a non-retriable error (a record too large, a
 * topic that does not exist, authorization), which the same records would meet again.
 */
function worthRetrying(err: unknown): boolean {
  const e = err as { name?: string; retriable?: boolean } | null;
  return e?.name === 'KafkaJSNumberOfRetriesExceeded' || e?.retriable === true;
}

/** The group's committed offset of `topic`/`partition`, -1 when it has none. */
async function committedOffset(kafka: Kafka, groupId: string, topic: string, partition: number): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return BigInt(t?.partitions.find((x) => x.partition === partition)?.offset ?? '-1');
  } finally {
    await admin.disconnect();
  }
}

/** Partitions of `topic` from the broker's metadata. */
async function readPartitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const n = topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    if (n === 0) throw new Error(`topic ${topic} has no partitions in the broker's metadata`);
    return n;
  } finally {
    await admin.disconnect();
  }
}

/** Kafka refused a record as larger than the topic's max.message.bytes (kafkajs may wrap it, or gather it with others). */
const isMessageTooLarge = (err: unknown) => someKafkaError(err, (e) => e.type === 'MESSAGE_TOO_LARGE');

async function readMaxMessageBytes(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
    });
    const value = Number(resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    return Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES;
  } finally {
    await admin.disconnect();
  }
}
