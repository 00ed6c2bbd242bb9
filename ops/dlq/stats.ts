// `dlq stats`: per DLQ topic, how many dead letters, by error class and by the group that gave up on them (`producer`
// when a producer rejected the record), and the oldest and newest failure. Reads with inspect's tail (a throwaway
// consumer that never commits), with values left undecoded: only headers and timestamps count.
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import type { RecordDecoder } from '../inspect/decode.ts';
import { tail } from '../inspect/tail.ts';
import { errorClassOf, failedAtMs, sourceGroup } from './topics.ts';

export interface DlqStats {
  topic: string;
  /** False when the topic does not exist (then every count is 0). */
  exists: boolean;
  records: number;
  /** Error class → records, most first. */
  byErrorClass: Record<string, number>;
  /** Consumer group (or `producer`) → records, most first. */
  byGroup: Record<string, number>;
  /** Earliest and latest failure (`failed-at`, else the record timestamp), ISO 8601; null when empty. */
  oldest: string | null;
  newest: string | null;
}

/** Leaves values as bytes: stats never need the registry. */
const undecoded: RecordDecoder = {
  async decode(_topic, value) { return value === null ? { kind: 'tombstone' }
    : { kind: 'raw', error: 'not decoded', bytes: value.length, hex: '', utf8: '' }; },
  async schemaRef(id) { return { id, subject: null, version: null }; },
};

export async function dlqStats(kafka: Kafka, config: Config, topics: readonly string[]): Promise<DlqStats[]> {
  const admin = kafka.admin();
  await admin.connect();
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } finally {
    await admin.disconnect();
  }
  const out: DlqStats[] = [];
  for (const topic of topics) {
    const byErrorClass = new Map<string, number>();
    const byGroup = new Map<string, number>();
    let records = 0;
    let oldest = Infinity;
    let newest = -Infinity;
    if (existing.has(topic)) {
      await tail(kafka, config, undecoded, {
        topic, from: 0,
        onRecord(r) {
          records++;
          bump(byErrorClass, errorClassOf(r.headers));
          bump(byGroup, sourceGroup(r.headers));
          const at = failedAtMs(r.headers, Date.parse(r.timestamp));
          if (at < oldest) oldest = at;
          if (at > newest) newest = at;
        },
      });
    }
    out.push({
      topic, exists: existing.has(topic), records, byErrorClass: sorted(byErrorClass), byGroup: sorted(byGroup),
      oldest: records ? new Date(oldest).toISOString() : null, newest: records ? new Date(newest).toISOString() : null,
    });
  }
  return out;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}
