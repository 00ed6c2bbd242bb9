// Reading given records back from the log: each (topic, partition, offset) fetched with lib/records' bounded reader (a
// throwaway group that never commits, removed afterwards), decoded through the registry with the writer's schema. A record the
// log no longer holds (retention, or an offset past the end) is reported as such, not waited for.
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { errorMessage } from '../../lib/errors.ts';
import { readLog, throwawayGroup, type LogRange } from '../../lib/records.ts';
import type { DecodedValue, RecordDecoder } from '../inspect/decode.ts';

export interface RecordRef { topic: string; partition: number; offset: string }

export type LoggedRecord = RecordRef & (
  | { found: true; key: string | null; timestamp: string; headers: Record<string, string>; value: DecodedValue }
  | { found: false; reason: string }
);

const refKey = (r: RecordRef) => `${r.topic}\u0000${r.partition}\u0000${BigInt(r.offset)}`;

/** The records at `refs` (duplicates read once), in the order given. Waits at most `timeoutMs` for the fetches. */
export async function readRecords(
  kafka: Kafka, config: Config, decoder: RecordDecoder, refs: readonly RecordRef[], timeoutMs = 20_000,
): Promise<LoggedRecord[]> {
  const unique = new Map(refs.map((r) => [refKey(r), { ...r, offset: BigInt(r.offset).toString() }]));
  const out = new Map<string, LoggedRecord>();
  try {
    const pending = await locate(kafka, [...unique.values()], out);
    if (pending.size) await fetchRecords(kafka, config, decoder, pending, out, timeoutMs);
  } catch (err) {
    for (const [k, r] of unique) if (!out.has(k)) out.set(k, { ...r, found: false, reason: errorMessage(err) });
  }
  return refs.map((r) => out.get(refKey(r))!);
}

/** Records the refs the log cannot hold (with why) in `out`; returns the others, to be fetched. */
async function locate(kafka: Kafka, refs: readonly RecordRef[], out: Map<string, LoggedRecord>): Promise<Map<string, RecordRef>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const pending = new Map<string, RecordRef>();
    for (const topic of new Set(refs.map((r) => r.topic))) {
      const bounds = existing.has(topic) ? await admin.fetchTopicOffsets(topic) : null;
      for (const r of refs.filter((x) => x.topic === topic)) {
        const reason = absence(r, bounds);
        if (reason) out.set(refKey(r), { ...r, found: false, reason });
        else pending.set(refKey(r), r);
      }
    }
    return pending;
  } finally {
    await admin.disconnect();
  }
}

/** Why the log cannot hold the record at `r` (bounds null: no such topic), or null when it may. */
export function absence(r: RecordRef, bounds: ReadonlyArray<{ partition: number; low: string; high: string }> | null): string | null {
  if (!bounds) return `topic ${r.topic} does not exist (any more)`;
  const b = bounds.find((x) => x.partition === r.partition);
  const o = BigInt(r.offset);
  if (!b) return `${r.topic} has no partition ${r.partition}`;
  if (o < BigInt(b.low)) return `removed from the log (the partition now starts at offset ${b.low}: retention or deleteRecords)`;
  if (o >= BigInt(b.high)) return `not in the log (the partition ends at offset ${b.high})`;
  return null;
}

/** Per partition, the range from the lowest to the highest offset wanted there (later offsets are read on the way). */
export function rangesFor(refs: Iterable<RecordRef>): LogRange[] {
  const ranges = new Map<string, LogRange>();
  for (const r of refs) {
    const k = `${r.topic}\u0000${r.partition}`;
    const o = BigInt(r.offset);
    const x = ranges.get(k);
    if (!x) ranges.set(k, { topic: r.topic, partition: r.partition, start: o, end: o + 1n });
    else {
      if (o < x.start) x.start = o;
      if (o + 1n > x.end!) x.end = o + 1n;
    }
  }
  return [...ranges.values()];
}

/** Reads the pending refs into `out`; one the read passed without finding it has no record at its offset. */
async function fetchRecords(kafka: Kafka, config: Config, decoder: RecordDecoder, pending: Map<string, RecordRef>, out: Map<string, LoggedRecord>,
  timeoutMs: number): Promise<void> {
  const wanted = new Map(pending);
  const { ended } = await readLog(kafka, {
    ranges: rangesFor(pending.values()), group: throwawayGroup(config.KAFKA_GROUP_PREFIX, 'explain'), timeoutMs,
    onRecord: async (m, at) => {
      for (const [k, r] of wanted) {
        if (r.topic !== at.topic || r.partition !== at.partition || BigInt(m.offset) < BigInt(r.offset)) continue;
        wanted.delete(k);
        if (BigInt(m.offset) > BigInt(r.offset)) { out.set(k, { ...r, found: false, reason: NO_RECORD }); continue; }
        out.set(k, {
          ...r, found: true, key: m.key?.toString('utf8') ?? null, timestamp: new Date(Number(m.timestamp)).toISOString(),
          headers: headersToStrings(m.headers), value: await decoder.decode(r.topic, m.value),
        });
      }
    },
  });
  for (const [k, r] of wanted) out.set(k, { ...r, found: false, reason: ended === 'timeout' ? `not read within ${timeoutMs} ms` : NO_RECORD });
}

const NO_RECORD = 'no record at this offset (compacted away, or a transaction marker)';
