// Consumer lag from the broker's point of view: latest offset minus the group's committed offset, per partition; and
// lag in seconds: how old the oldest record the group has not consumed is (its Kafka timestamp, read at the group's
// position with lib/records' peek), 0 when caught up. Seconds say how far behind a store is whatever the record rate;
// record counts do not (kafka_exporter#16).
import type { Admin, Kafka } from 'kafkajs';
import { partitionKey, type RecordPeek } from './records.ts';

export interface PartitionLag { topic: string; partition: number; committed: number | null; latest: number; lag: number }

export interface PartitionLagSeconds extends PartitionLag {
  /** Kafka timestamp (ms) of the oldest unconsumed record; null when caught up, or when it could not be read. */
  oldestAt: number | null;
  /** Now minus oldestAt, in seconds (never below 0: a producer's clock may run ahead); 0 when caught up; null when unknown. */
  lagSeconds: number | null;
}

/** Per-partition lag of `groupId` on `topics`; a partition with no commit lags from its earliest retained offset. */
export async function groupLag(kafka: Kafka | Admin, groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
  const own = 'admin' in kafka ? kafka.admin() : null;
  const admin = own ?? (kafka as Admin);
  if (own) await own.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    const out: PartitionLag[] = [];
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const p of ends) {
        const c = Number(mine.find((x) => x.partition === p.partition)?.offset ?? -1);
        const latest = Number(p.high);
        out.push({ topic, partition: p.partition, committed: c >= 0 ? c : null, latest, lag: latest - Math.max(c, Number(p.low)) });
      }
    }
    return out;
  } finally {
    if (own) await own.disconnect();
  }
}

export async function totalLag(kafka: Kafka | Admin, groupId: string, topics: readonly string[]): Promise<number> {
  return (await groupLag(kafka, groupId, topics)).reduce((n, p) => n + p.lag, 0);
}

/**
 * The lag of each partition in seconds at `now`: the age of the record at the group's position (latest − lag: its
 * committed offset, or the earliest retained record when it has none or retention passed it). One peek for all the
 * partitions with lag; a caught-up partition is 0 without asking. Without a peek, the lag in seconds of a partition with
 * lag is unknown (null).
 */
export async function withLagSeconds(peek: RecordPeek | undefined, parts: readonly PartitionLag[], now: number): Promise<PartitionLagSeconds[]> {
  const behind = parts.filter((p) => p.lag > 0);
  const at = behind.length && peek
    ? await peek.timestamps(behind.map((p) => ({ topic: p.topic, partition: p.partition, offset: BigInt(p.latest - p.lag) })))
    : new Map<string, number | null>();
  return parts.map((p) => {
    if (p.lag <= 0) return { ...p, oldestAt: null, lagSeconds: 0 };
    const oldestAt = at.get(partitionKey(p.topic, p.partition)) ?? null;
    return { ...p, oldestAt, lagSeconds: oldestAt === null ? null : Math.max(0, now - oldestAt) / 1000 };
  });
}

/** The largest lag in seconds of the partitions (0 when none lags); null when a partition with lag has an unknown one. */
export function maxLagSeconds(parts: readonly Pick<PartitionLagSeconds, 'lagSeconds'>[]): number | null {
  let max = 0;
  for (const p of parts) {
    if (p.lagSeconds === null) return null;
    max = Math.max(max, p.lagSeconds);
  }
  return max;
}
