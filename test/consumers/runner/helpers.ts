// Shared by the runner's stage tests: a logger into memory, and a kafkajs batch payload with only what a stage reads.
import { Writable } from 'node:stream';
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { createLogger } from '../../../lib/logger.ts';

/** A JSON logger into memory (keeps test output quiet, and lets tests read what was logged). Warn level unless told. */
export function memoryLogger(level: 'debug' | 'warn' = 'warn') {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { logger: createLogger({ level, format: 'json', destination }), lines };
}

/** Raw records of a batch from offset `first`: JSON values, raw bytes when given a Buffer, tombstones for null. */
export function messages(values: readonly (unknown | Buffer | null)[], o: { first?: number; keys?: readonly (string | null)[] } = {}): KafkaMessage[] {
  return values.map((v, i) => ({
    key: o.keys?.[i] == null ? null : Buffer.from(o.keys[i]!),
    value: v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v)),
    timestamp: String(1_700_000_000_000 + i), attributes: 0, offset: String((o.first ?? 100) + i), headers: {},
  })) as KafkaMessage[];
}

/** The batch part of an EachBatchPayload over `msgs`, and the payload calls a stage may make, logged to `calls`. */
export function payload(msgs: KafkaMessage[], o: { topic?: string; partition?: number; running?: () => boolean; stale?: () => boolean } = {}) {
  const calls: string[] = [];
  const p = {
    batch: {
      topic: o.topic ?? 'prices', partition: o.partition ?? 0, messages: msgs,
      isEmpty: () => msgs.length === 0,
      firstOffset: () => msgs[0]?.offset ?? null,
      lastOffset: () => msgs.at(-1)?.offset ?? '-1',
    },
    resolveOffset: (offset: string) => { calls.push(`resolve:${offset}`); },
    commitOffsetsIfNecessary: async (offsets?: { topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }) => {
      calls.push(`commit:${(offsets?.topics ?? []).map((t) => `${t.topic}/${t.partitions.map((x) => `${x.partition}@${x.offset}`).join('+')}`).join(',')}`);
    },
    heartbeat: async () => { calls.push('heartbeat'); },
    isRunning: o.running ?? (() => true),
    isStale: o.stale ?? (() => false),
  };
  return { p: p as unknown as EachBatchPayload, calls };
}
