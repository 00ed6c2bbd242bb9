// `inspect tail`: the last N records of a topic (over all partitions, in timestamp order), or those since a time, decoded
// with their key, partition, offset, timestamp, headers and schema id/version; DLQ records also carry their error
// headers and a raw preview. Reads with a throwaway consumer group that never commits (removed afterwards), so it
// changes nothing; with follow it keeps printing new records until the signal aborts.
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { ValidationError } from '../../lib/errors.ts';
import { preview, type DecodedValue, type RawPreview, type RecordDecoder } from './decode.ts';

export interface TailRecord {
  topic: string;
  partition: number;
  offset: string;
  /** Kafka record timestamp, ISO 8601. */
  timestamp: string;
  key: string | null;
  headers: Record<string, string>;
  value: DecodedValue;
  /** Present on dead-letter records: why and where from, plus the raw bytes. */
  dlq?: { errorClass: string | null; errorMessage: string | null; originalTopic: string | null; originalPartition: string | null; originalOffset: string | null; consumerGroup: string | null; failedAt: string | null; raw: RawPreview | null };
}

export interface TailOptions {
  topic: string;
  /** Records whose timestamp is at or after this (epoch ms). */
  from?: number;
  /** The last N records over all partitions (default 10 when `from` is not given). */
  last?: number;
  follow?: boolean;
  signal?: AbortSignal;
  onRecord(r: TailRecord): void;
}

export const DEFAULT_TAIL = 10;

export async function tail(kafka: Kafka, config: Config, decoder: RecordDecoder, o: TailOptions): Promise<{ records: number }> {
  if (o.from !== undefined && o.last !== undefined) throw new ValidationError('give --from or --last, not both');
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${config.KAFKA_GROUP_PREFIX}.inspect-${randomUUID().slice(0, 8)}`;
  try {
    if (!(await admin.listTopics()).includes(o.topic)) throw new ValidationError(`topic ${o.topic} not found`);
    const bounds = await admin.fetchTopicOffsets(o.topic);
    const byTime = o.from !== undefined ? new Map((await admin.fetchTopicOffsetsByTimestamp(o.topic, o.from)).map((x) => [x.partition, x.offset])) : null;
    const last = o.from === undefined ? o.last ?? DEFAULT_TAIL : undefined;
    // Where to start and where "caught up" is, per partition, as of now.
    const plan = bounds.map((b) => {
      const low = BigInt(b.low);
      const high = BigInt(b.high);
      let start = byTime ? BigInt(byTime.get(b.partition) ?? b.high) : high - BigInt(last ?? 0);
      if (start < low) start = low;
      if (start > high) start = high;
      return { partition: b.partition, start, end: high };
    });
    const pending = new Set(plan.filter((p) => p.start < p.end).map((p) => p.partition));
    if (!pending.size && !o.follow) return { records: 0 };

    const buffered: TailRecord[] = [];
    let printed = 0;
    let caughtUp = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => { resolveDone = r; });
    const emit = (r: TailRecord) => { o.onRecord(r); printed++; };
    const flush = () => {
      // With --last, the backlog is buffered (at most N per partition) so the last N over all partitions come out in timestamp order.
      buffered.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
      for (const r of last === undefined ? buffered : buffered.slice(-last)) emit(r);
      buffered.length = 0;
      caughtUp = true;
      if (!o.follow) resolveDone();
    };

    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: o.topic, fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          if (caughtUp && !o.follow) return; // done: records published since are not ours to print
          const record = await toTailRecord(o.topic, partition, message, decoder);
          if (caughtUp) { emit(record); return; }
          const p = plan.find((x) => x.partition === partition);
          // A record past the end we noted arrived after we looked: shown only when following.
          if ((p !== undefined && BigInt(message.offset) < p.end) || o.follow) {
            if (last === undefined) emit(record); // --from: streamed as read, nothing held in memory
            else buffered.push(record);
          }
          if (p && BigInt(message.offset) + 1n >= p.end) pending.delete(partition);
          if (!pending.size) flush();
        },
      });
      for (const p of plan) consumer.seek({ topic: o.topic, partition: p.partition, offset: p.start.toString() });
      if (!pending.size) flush();
      const aborted = new Promise<void>((r) => {
        if (o.signal?.aborted) r();
        o.signal?.addEventListener('abort', () => r(), { once: true });
      });
      await Promise.race([done, aborted]);
    } finally {
      await consumer.disconnect();
    }
    return { records: printed };
  } finally {
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
}

async function toTailRecord(topic: string, partition: number, m: KafkaMessage, decoder: RecordDecoder): Promise<TailRecord> {
  const headers = headersToStrings(m.headers);
  const r: TailRecord = {
    topic, partition, offset: m.offset, timestamp: new Date(Number(m.timestamp)).toISOString(),
    key: m.key?.toString('utf8') ?? null, headers, value: await decoder.decode(topic, m.value),
  };
  if (topic.endsWith('.dlq') || headers[DlqHeaders.errorClass] !== undefined) {
    const h = (k: string) => headers[k] ?? null;
    r.dlq = {
      errorClass: h(DlqHeaders.errorClass), errorMessage: h(DlqHeaders.errorMessage), originalTopic: h(DlqHeaders.originalTopic),
      originalPartition: h(DlqHeaders.originalPartition), originalOffset: h(DlqHeaders.originalOffset), consumerGroup: h(DlqHeaders.consumerGroup),
      failedAt: h(DlqHeaders.failedAt), raw: m.value ? preview(m.value) : null,
    };
  }
  return r;
}
