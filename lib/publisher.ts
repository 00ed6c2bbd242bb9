// Publishing typed records: encodes with the serde, keys by topic.key(value), adds the standard headers, and sends with
// the idempotent producer (acks from all in-sync replicas). Also tombstones, and dead-lettering of raw bytes to `<topic>.dlq`.
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { dlqHeaders, standardHeaders, type RecordOrigin } from './dlq.ts';
import { createIdempotentProducer } from './kafka.ts';
import type { Logger } from './logger.ts';
import type { Serde } from './serde.ts';
import type { TopicDef } from '../topics/index.ts';

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
/** Most value bytes per send, so one partition's batch stays under the broker's 1 MB default even when every key is the same. */
export const SEND_CHUNK_BYTES = 512 * 1024;

export function createPublisher(deps: { kafka: Kafka; serde: Serde; logger: Logger; chunkSize?: number }): Publisher {
  const producer: Producer = createIdempotentProducer(deps.kafka);
  const log = deps.logger.child({ component: 'publisher' });
  const chunk = deps.chunkSize ?? SEND_CHUNK;

  const sendMessages = (topic: string, messages: Message[]) =>
    producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None });

  /** Sends in consecutive chunks (never concurrently), so records of one key keep their order. */
  async function sendChunked(topic: string, messages: Message[]): Promise<void> {
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const size = (messages[i]!.value?.length ?? 0) + 64;
      if (i > start && (i - start >= chunk || bytes + size > SEND_CHUNK_BYTES)) {
        await sendMessages(topic, messages.slice(start, i));
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    await sendMessages(topic, messages.slice(start));
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
      const messages: Message[] = records.map((r) => ({
        key: r.key,
        value: r.value,
        headers: dlqHeaders({ error: r.error, topic: topic.name, origin: r.origin, original: r.headers, now }),
      }));
      await sendChunked(topic.dlq, messages);
      log.debug({ topic: topic.dlq, count: records.length }, 'records dead-lettered');
    },

    async disconnect() {
      await producer.disconnect();
    },
  };
}
