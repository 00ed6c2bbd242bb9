// `inspect tail`: the last N records of a topic (over all partitions, in timestamp order), or those since a time, decoded
// with their key, partition, offset, timestamp, headers and schema id/version; DLQ records also carry their error
// headers and a raw preview. Reads with lib/records' bounded reader (a throwaway group that never commits, removed
// afterwards), so it changes nothing; with follow it keeps printing new records until the signal aborts.
import type { Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { ValidationError } from '../../lib/errors.ts';
import { readLog, throwawayGroup, topicRanges, type LogRange, type ReadFrom } from '../../lib/records.ts';
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
  dlq?: {
    errorClass: string | null; errorMessage: string | null; originalTopic: string | null; originalPartition: string | null; originalOffset: string | null;
    consumerGroup: string | null; failedAt: string | null; raw: RawPreview | null;
  };
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
  const last = o.from === undefined ? o.last ?? DEFAULT_TAIL : undefined;
  const ranges = await tailRanges(kafka, o.topic, o.from !== undefined ? { time: o.from } : { last: last! });
  const buffered: TailRecord[] = [];
  let printed = 0;
  let caughtUp = false;
  const emit = (r: TailRecord) => { o.onRecord(r); printed++; };
  const flush = () => {
    // With --last, the backlog is buffered (at most N per partition) so the last N over all partitions come out in timestamp order.
    buffered.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
    for (const r of last === undefined ? buffered : buffered.slice(-last)) emit(r);
    buffered.length = 0;
    caughtUp = true;
  };
  const { ended } = await readLog(kafka, {
    ranges, group: throwawayGroup(config.KAFKA_GROUP_PREFIX, 'inspect'), follow: o.follow, onCaughtUp: flush, signal: o.signal,
    onRecord: async (m, at) => {
      const record = await toTailRecord(o.topic, at.partition, m, decoder);
      if (caughtUp || last === undefined) emit(record); // --from: streamed as read, nothing held in memory
      else buffered.push(record);
    },
  });
  if (ended === 'end' && !caughtUp) flush();
  return { records: printed };
}

/** Every partition's range from `from` to its end now; refuses a topic that does not exist. */
async function tailRanges(kafka: Kafka, topic: string, from: ReadFrom): Promise<LogRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new ValidationError(`topic ${topic} not found`);
    return await topicRanges(admin, topic, { from });
  } finally {
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
