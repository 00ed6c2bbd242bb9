// Publishing typed records: encodes with the serde, keys by topic.key(value), adds the standard headers, and sends with
// the idempotent producer (acks from all in-sync replicas). Also tombstones, and dead-lettering of raw bytes to `<topic>.dlq`.
import { createHash } from 'node:crypto';
import kafkajs, { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { DlqHeaders, dlqHeaders, standardHeaders, type RecordOrigin } from './dlq.ts';
import { errorMessage } from './errors.ts';
import { createIdempotentProducer } from './kafka.ts';
import type { Logger } from './logger.ts';
import type { Serde } from './serde.ts';
import type { TopicDef } from '../topics/index.ts';

const { ConfigResourceTypes } = kafkajs;

export interface SendMeta { source: string; correlationId?: string }

export interface DeadLetter {
  key: string | null;
  value: Buffer | null;
  /** The original record's headers; kept on the DLQ record. */
  headers?: Record<string, string>;
  error: unknown;
  /** Where a consumer read it; absent when a producer rejects a record before publishing. */
  origin?: RecordOrigin;
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
  /** Raw bytes to `<topic>.dlq` with the reason in headers (never throws away the original bytes). */
  deadLetter(topic: TopicDef<unknown>, records: readonly DeadLetter[]): Promise<void>;
  disconnect(): Promise<void>;
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
  for (const [k, v] of Object.entries(m.headers ?? {})) n += 8 + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : (v as Buffer | undefined)?.length ?? 0);
  return n;
}

export function createPublisher(deps: { kafka: Kafka; serde: Serde; logger: Logger; chunkSize?: number }): Publisher {
  const producer: Producer = createIdempotentProducer(deps.kafka);
  const log = deps.logger.child({ component: 'publisher' });
  const chunk = deps.chunkSize ?? SEND_CHUNK;

  const sendMessages = (topic: string, messages: Message[]) =>
    producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None });

  /** Sends in consecutive chunks (never concurrently) of at most `maxBytes`, so records of one key keep their order. */
  async function sendChunked(topic: string, messages: Message[], maxBytes = SEND_CHUNK_BYTES): Promise<void> {
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const size = recordBytes(messages[i]!);
      if (i > start && (i - start >= chunk || bytes + size > maxBytes)) {
        await sendMessages(topic, messages.slice(start, i));
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    await sendMessages(topic, messages.slice(start));
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

  return {
    async connect() {
      await producer.connect();
      log.debug('producer connected');
    },

    async send(topic, values, meta) {
      if (values.length === 0) return;
      const encode = await deps.serde.encoder(topic);
      const headers = standardHeaders(meta);
      // Encode everything first: a value that does not fit the schema throws before anything is published.
      const messages: Message[] = new Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        messages[i] = { key: topic.key(v), value: encode(v), headers };
      }
      await sendChunked(topic.name, messages);
      log.debug({ topic: topic.name, count: values.length }, 'records sent');
    },

    async sendTombstone(topic, key, meta) {
      await sendMessages(topic.name, [{ key, value: null, headers: standardHeaders(meta) }]);
    },

    async deadLetter(topic, records) {
      if (records.length === 0) return;
      const now = new Date();
      // Chunks fit the DLQ topic's max.message.bytes, so a flood of bad records never makes one request it refuses.
      const limit = Math.min(SEND_CHUNK_BYTES, (await maxMessageBytes(topic.dlq)) - BATCH_MARGIN);
      const messages: Message[] = records.map((r) => fitted({
        key: r.key,
        value: r.value,
        headers: dlqHeaders({ error: r.error, topic: topic.name, origin: r.origin, original: r.headers, now }),
      }, limit));
      await sendChunked(topic.dlq, messages, limit);
      log.debug({ topic: topic.dlq, count: records.length }, 'records dead-lettered');
    },

    async disconnect() {
      await producer.disconnect();
    },
  };
}

/** A dead letter whose original value alone is too large for its topic keeps its headers, and the value's size and hash instead. */
function fitted(m: Message, limit: number): Message {
  if (recordBytes(m) <= limit || !m.value) return m;
  const value = m.value as Buffer;
  return {
    key: m.key,
    value: null,
    headers: {
      ...m.headers,
      [DlqHeaders.originalValueBytes]: String(value.length),
      [DlqHeaders.originalValueSha256]: createHash('sha256').update(value).digest('hex'),
    },
  };
}

async function readMaxMessageBytes(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    const value = Number(resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    return Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES;
  } finally {
    await admin.disconnect();
  }
}
