// Consumer lag from the broker's point of view: latest offset minus the group's committed offset, per partition.
import type { Admin, Kafka } from 'kafkajs';

export interface PartitionLag { topic: string; partition: number; committed: number | null; latest: number; lag: number }

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
