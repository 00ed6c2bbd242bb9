// `dlq list`: dead letters decoded with their error headers, through inspect's tail (throwaway consumer, never
// commits). Filtered by error class, it scans the topic (or from the given time) and keeps the last N that match.
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { ValidationError } from '../../lib/errors.ts';
import type { RecordDecoder } from '../inspect/decode.ts';
import { DEFAULT_TAIL, tail, type TailRecord } from '../inspect/tail.ts';
import { errorClassOf } from './topics.ts';

export interface ListOptions {
  topic: string;
  /** The last N (matching) records; default 10 unless `from` is given. */
  last?: number;
  /** Records at or after this time (epoch ms, Kafka record timestamp). */
  from?: number;
  /** Only records whose `error-class` is one of these. */
  errorClasses?: readonly string[];
  onRecord(r: TailRecord): void;
}

export async function listDlq(kafka: Kafka, config: Config, decoder: RecordDecoder, o: ListOptions): Promise<{ records: number }> {
  if (o.from !== undefined && o.last !== undefined) throw new ValidationError('give --from or --last, not both');
  const classes = o.errorClasses?.length ? new Set(o.errorClasses) : null;
  if (!classes) return tail(kafka, config, decoder, { topic: o.topic, from: o.from, last: o.last, onRecord: o.onRecord });
  const matches = (r: TailRecord) => classes.has(errorClassOf(r.headers));
  let records = 0;
  if (o.from !== undefined) {
    await tail(kafka, config, decoder, { topic: o.topic, from: o.from, onRecord: (r) => { if (matches(r)) { records++; o.onRecord(r); } } });
    return { records };
  }
  // The last N of a class can lie anywhere in the topic: read it all, keep N per partition, then the last N overall.
  const last = o.last ?? DEFAULT_TAIL;
  const kept = new Map<number, TailRecord[]>();
  await tail(kafka, config, decoder, {
    topic: o.topic, from: 0,
    onRecord(r) {
      if (!matches(r)) return;
      const xs = kept.get(r.partition) ?? [];
      xs.push(r);
      if (xs.length > last) xs.shift();
      kept.set(r.partition, xs);
    },
  });
  const all = [...kept.values()].flat()
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
    .slice(-last);
  for (const r of all) o.onRecord(r);
  return { records: all.length };
}
