// Reading given records back from the log: each (topic, partition, offset) fetched with one throwaway consumer (a random
// group that never commits, removed afterwards), decoded through the registry with the writer's schema. A record the
// log no longer holds (retention, or an offset past the end) is reported as such, not waited for.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { DecodedValue, RecordDecoder } from '../inspect/decode.ts';

export interface RecordRef { topic: string; partition: number; offset: string }

export type LoggedRecord = RecordRef & (
  | { found: true; key: string | null; timestamp: string; headers: Record<string, string>; value: DecodedValue }
  | { found: false; reason: string }
);

const refKey = (r: RecordRef) => `${r.topic}\u0000${r.partition}\u0000${BigInt(r.offset)}`;

/** The records at `refs` (duplicates read once), in the order given. Waits at most `timeoutMs` for the fetches. */
export async function readRecords(kafka: Kafka, config: Config, decoder: RecordDecoder, refs: readonly RecordRef[], timeoutMs = 20_000): Promise<LoggedRecord[]> {
  const unique = new Map(refs.map((r) => [refKey(r), { ...r, offset: BigInt(r.offset).toString() }]));
  const out = new Map<string, LoggedRecord>();
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${config.KAFKA_GROUP_PREFIX}.explain-${randomUUID().slice(0, 8)}`;
  try {
    const topics = [...new Set([...unique.values()].map((r) => r.topic))];
    const existing = new Set(await admin.listTopics());
    const pending = new Map<string, RecordRef>();
    for (const topic of topics) {
      const bounds = existing.has(topic) ? await admin.fetchTopicOffsets(topic) : [];
      for (const r of [...unique.values()].filter((x) => x.topic === topic)) {
        const b = bounds.find((x) => x.partition === r.partition);
        const o = BigInt(r.offset);
        if (!existing.has(topic)) out.set(refKey(r), { ...r, found: false, reason: `topic ${topic} does not exist (any more)` });
        else if (!b) out.set(refKey(r), { ...r, found: false, reason: `${topic} has no partition ${r.partition}` });
        else if (o < BigInt(b.low)) out.set(refKey(r), { ...r, found: false, reason: `removed from the log (the partition now starts at offset ${b.low}: retention or deleteRecords)` });
        else if (o >= BigInt(b.high)) out.set(refKey(r), { ...r, found: false, reason: `not in the log (the partition ends at offset ${b.high})` });
        else pending.set(refKey(r), r);
      }
    }
    if (pending.size) {
      const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, allowAutoTopicCreation: false });
      await consumer.connect();
      try {
        let done!: () => void;
        const allRead = new Promise<void>((r) => { done = r; });
        const wanted = new Set(pending.keys());
        const pendingTopics = [...new Set([...pending.values()].map((r) => r.topic))];
        await consumer.subscribe({ topics: pendingTopics, fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              for (const [k, r] of pending) {
                if (!wanted.has(k) || r.topic !== batch.topic || r.partition !== batch.partition) continue;
                if (BigInt(m.offset) === BigInt(r.offset)) {
                  out.set(k, {
                    ...r, found: true, key: m.key?.toString('utf8') ?? null, timestamp: new Date(Number(m.timestamp)).toISOString(),
                    headers: headersToStrings(m.headers), value: await decoder.decode(r.topic, m.value),
                  });
                  wanted.delete(k);
                } else if (BigInt(m.offset) > BigInt(r.offset)) {
                  out.set(k, { ...r, found: false, reason: 'no record at this offset (compacted away, or a transaction marker)' });
                  wanted.delete(k);
                }
              }
            }
            if (!wanted.size) done();
          },
        });
        // Seek each partition to the lowest offset wanted there; later offsets of the partition are read on the way.
        const starts = new Map<string, RecordRef>();
        for (const r of pending.values()) {
          const k = `${r.topic}\u0000${r.partition}`;
          const s = starts.get(k);
          if (!s || BigInt(r.offset) < BigInt(s.offset)) starts.set(k, r);
        }
        for (const r of starts.values()) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.offset });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([allRead, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
        clearTimeout(timer);
        for (const k of wanted) out.set(k, { ...pending.get(k)!, found: false, reason: `not read within ${timeoutMs} ms` });
      } finally {
        await consumer.disconnect();
      }
    }
  } catch (err) {
    for (const [k, r] of unique) if (!out.has(k)) out.set(k, { ...r, found: false, reason: errorMessage(err) });
  } finally {
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect();
  }
  return refs.map((r) => out.get(refKey(r))!);
}
