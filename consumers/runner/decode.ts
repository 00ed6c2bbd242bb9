// Decoding and validation of a batch: each record becomes a SinkRecord for the sink, or a dead letter (undecodable,
// invalid, or a tombstone its handler has no use for). A retriable failure (the registry down) fails the whole
// decode, so that it is retried; nothing is dead-lettered for it.
import type { Batch, KafkaMessage } from 'kafkajs';
import { DecodeError, ValidationError, isRetriable } from '../../lib/errors.ts';
import type { DeadLetter } from '../../lib/publisher.ts';
import { recordVersion } from '../../lib/record-headers.ts';
import type { Serde } from '../../lib/serde.ts';
import type { SinkRecord, TopicHandler } from '../types.ts';
import { deadLetter } from './dead-letters.ts';

/** A decoded batch: the records for the sink with their raw messages (same index), and the dead letters. */
export interface DecodedBatch<T> { good: SinkRecord<T>[]; raw: KafkaMessage[]; dead: DeadLetter[] }

type Fetched = Pick<Batch, 'topic' | 'partition' | 'messages'>;

/** Decodes `batch` for `h` (read by consumer group `group`, which its dead letters name). */
export async function decodeBatch<T>(h: TopicHandler<T>, batch: Fetched, serde: Serde, group: string): Promise<DecodedBatch<T>> {
  const out: DecodedBatch<T> = { good: [], raw: [], dead: [] };
  const { topic, partition } = batch;
  const keep = (m: KafkaMessage, value: T | null) => { out.good.push(new Received(m, value, topic, partition)); out.raw.push(m); };
  const reject = (m: KafkaMessage, err: unknown) => { out.dead.push(deadLetter({ topic, partition, group }, m, err)); };
  for (const m of batch.messages) {
    if (m.value === null) {
      if (h.acceptsTombstones) keep(m, null);
      else reject(m, new DecodeError(`tombstone (null value) is not meaningful on ${topic}`));
      continue;
    }
    try {
      const { value } = serde.decodeKnown(h.topic, m.value) ?? await serde.decode(h.topic, m.value);
      const reason = h.validate?.(value);
      if (reason) reject(m, new ValidationError(reason));
      else keep(m, value);
    } catch (err) {
      if (isRetriable(err)) throw err;
      reject(m, err);
    }
  }
  return out;
}

/** A decoded record as a sink sees it; the key is decoded only when a sink asks for it (price sinks never do). */
export class Received<T> implements SinkRecord<T> {
  readonly value: T | null;
  readonly timestamp: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly version: number;
  readonly #m: KafkaMessage;
  constructor(m: KafkaMessage, value: T | null, topic: string, partition: number) {
    this.#m = m;
    this.value = value;
    this.timestamp = Number(m.timestamp);
    this.topic = topic;
    this.partition = partition;
    this.offset = m.offset;
    this.version = recordVersion(m.offset, partition, m.headers);
  }
  get key(): string | null { return this.#m.key?.toString('utf8') ?? null; }
}
