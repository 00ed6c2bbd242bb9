// Measurements the benchmark takes: kafkajs consume-only and consume+decode rates, PostgreSQL COPY of the same rows,
// a sink group's catch-up throughput, and end-to-end latency percentiles.
import { readdir, readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Kafka } from 'kafkajs';
import { from as copyFrom } from 'pg-copy-streams';
import { upsertPrices } from '../consumers/postgres/prices.ts';
import type { RunnerHooks } from '../consumers/runner.ts';
import { startSinks } from '../consumers/start.ts';
import { sinks, type SinkName } from '../consumers/catalog.ts';
import type { SinkTopics } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { Serde } from '../lib/serde.ts';
import type { Pool } from '../lib/stores/postgres.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import type { TopicDef } from '../topics/index.ts';

export interface Rate { records: number; seconds: number; perSecond: number }
const rate = (records: number, ms: number): Rate => ({ records, seconds: ms / 1000, perSecond: Math.round(records / (ms / 1000)) });

/** The fetch sizes of the consume baselines: what kafkajs needs to reach its ceiling on these records. */
export const LARGE_FETCH = { maxBytes: 10 * 1048576, maxBytesPerPartition: 4 * 1048576 };

/**
 * Reads `expected` records from the beginning in a fresh group, optionally decoding each; the rate from group join to
 * the last record. Large fetches (LARGE_FETCH: 10 MB, 4 MB per partition, or the sinks' when larger), one eachBatch loop.
 */
export async function consumeRate(kafka: Kafka, config: Config, topic: TopicDef<PriceUpdate>, expected: number, groupId: string, serde?: Serde): Promise<Rate> {
  const consumer = kafka.consumer({
    groupId, maxBytes: Math.max(LARGE_FETCH.maxBytes, config.SINK_FETCH_MAX_BYTES),
    maxBytesPerPartition: Math.max(LARGE_FETCH.maxBytesPerPartition, config.SINK_FETCH_PARTITION_MAX_BYTES),
  });
  let seen = 0;
  let t0 = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  consumer.on(consumer.events.GROUP_JOIN, (e) => { t0 ||= e.timestamp; });
  await consumer.connect();
  await consumer.subscribe({ topic: topic.name, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: config.SINK_PARTITIONS_CONCURRENCY,
    eachBatch: async ({ batch }) => {
      if (serde) for (const m of batch.messages) await serde.decode(topic, m.value!);
      seen += batch.messages.length;
      if (seen >= expected) done();
    },
  });
  await finished;
  const ms = Date.now() - t0;
  await consumer.disconnect();
  return rate(seen, ms);
}

/** Plain COPY of the same rows into a fresh table shaped like price_data: PostgreSQL's bulk-load rate, not idempotent. */
export async function copyRate(pool: Pool, rows: readonly PriceUpdate[]): Promise<Rate> {
  const table = `bench_copy_${process.pid}_${Date.now()}`;
  const client = await pool.connect();
  try {
    await client.query(`CREATE TABLE ${table} (LIKE price_data INCLUDING ALL)`);
    const lines = function* () {
      for (let i = 0; i < rows.length; i += 5000) {
        yield rows.slice(i, i + 5000).map((r) => `${r.symbol}\t${r.interval}\t${new Date(r.eventTime).toISOString()}\t${r.open}\t${r.high}\t${r.low}\t`
          + `${r.close}\t${r.volume}\t${r.source}\t${r.quality}\t${new Date(r.ingestTime).toISOString()}\n`).join('');
      }
    };
    const t0 = Date.now();
    await pipeline(Readable.from(lines()),
      client.query(copyFrom(`COPY ${table} (symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at) FROM STDIN`)));
    return rate(rows.length, Date.now() - t0);
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    client.release();
  }
}

export interface SinkRun {
  stop(): Promise<void>;
  latencies: Map<SinkName, number[]>;
  /**
   * Per sink, for its writes of `others.features` (price-features, which the features group publishes with the Kafka
   * timestamp of the bar it was computed from): the bar's publication to its features being visible in the store.
   */
  featureLatencies: Map<SinkName, number[]>;
  /** The part of each latency spent before the batch reached the runner (Kafka delivery: produce, broker, fetch). */
  delivery: Map<SinkName, number[]>;
  written: Map<SinkName, number>;
  batches: Map<SinkName, number>;
  /** When each sink's group was joined (the start of its throughput measure) and when it wrote its last batch. */
  joinedAt: Map<SinkName, number>;
  lastWritten: Map<SinkName, number>;
}

/**
 * Starts the given sink groups on `topic`, counting written records and collecting end-to-end latencies per sink, of
 * that topic only. The sinks' other topics (market-events, graph-mutations) are `others` (empty ones of the benchmark's
 * own), so a fresh group never reads the real topics' history.
 */
export async function runSinks(
  config: Config, logger: Logger, names: readonly SinkName[], topic: TopicDef<PriceUpdate>,
  o: { latencies?: boolean; others?: Omit<SinkTopics, 'prices'> } = {},
): Promise<SinkRun> {
  const byName = new Map<string, SinkName>(names.map((n) => [sinks[n].name, n]));
  const latencies = new Map(names.map((n) => [n, [] as number[]]));
  const featureLatencies = new Map(names.map((n) => [n, [] as number[]]));
  const delivery = new Map(names.map((n) => [n, [] as number[]]));
  const written = new Map(names.map((n) => [n, 0]));
  const batches = new Map(names.map((n) => [n, 0]));
  const joinedAt = new Map<SinkName, number>();
  const lastWritten = new Map<SinkName, number>();
  const hooks: RunnerHooks = {
    onGroupJoin(e) { const n = byName.get(e.sink)!; if (!joinedAt.has(n)) joinedAt.set(n, e.at); },
    onWritten(e) {
      if (e.topic === o.others?.features?.name && o.latencies !== false) {
        const f = featureLatencies.get(byName.get(e.sink)!)!;
        for (const t of e.timestamps) f.push(e.writtenAt - t);
      }
      if (e.topic !== topic.name) return;
      const n = byName.get(e.sink)!;
      written.set(n, written.get(n)! + e.timestamps.length);
      batches.set(n, batches.get(n)! + 1);
      lastWritten.set(n, Math.max(lastWritten.get(n) ?? 0, e.writtenAt));
      if (o.latencies === false) return;
      const l = latencies.get(n)!;
      const d = delivery.get(n)!;
      for (const t of e.timestamps) { l.push(e.writtenAt - t); d.push(e.receivedAt - t); }
    },
  };
  const running = await startSinks({ config, logger, names, topics: { ...o.others, prices: topic }, hooks });
  return { stop: async () => { await running.stop(); }, latencies, featureLatencies, delivery, written, batches, joinedAt, lastWritten };
}

export function percentiles(xs: number[]): { p50: number; p95: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

export async function until(cond: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`benchmark: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The idempotent path the sink takes (COPY into a staging table, merge with ON CONFLICT), straight from memory: batches
 * of `batch` rows on `concurrency` connections. The rows must be new to price_data (the caller's own symbols).
 */
export async function copyMergeRate(pool: Pool, rows: readonly PriceUpdate[], o: { batch: number; concurrency: number }): Promise<Rate> {
  let next = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    for (let i = next; i < rows.length; i = next) {
      next += o.batch;
      const batch = rows.slice(i, i + o.batch);
      await upsertPrices(pool, batch, batch.map((_, k) => i + k)); // versioned, as the sink writes (its offset)
    }
  }));
  return rate(rows.length, Date.now() - t0);
}

/** CPU seconds so far of every server (serverCpuSeconds) and of each named group of processes (pidCpuSeconds). */
export async function cpuSnapshot(processes: Record<string, readonly number[]>): Promise<Record<string, number>> {
  const out = await serverCpuSeconds();
  for (const [name, pids] of Object.entries(processes)) out[name] = await pidCpuSeconds(pids);
  return out;
}

/** Cores each kept busy between two snapshots `seconds` apart (CPU seconds per second), and their `total`; to 0.01. */
export function coresBusy(before: Record<string, number>, after: Record<string, number>, seconds: number): Record<string, number> {
  const cores: Record<string, number> = {};
  for (const k of Object.keys(after)) cores[k] = (after[k]! - (before[k] ?? 0)) / seconds;
  cores.total = Object.values(cores).reduce((a, b) => a + b, 0);
  for (const k of Object.keys(cores)) cores[k] = Math.round(cores[k]! * 100) / 100;
  return cores;
}

/** Cumulative CPU seconds of the servers on this machine, found by their command lines; reaped children count (PostgreSQL backends). */
async function serverCpuSeconds(): Promise<Record<string, number>> {
  const out: Record<string, number> = { kafka: 0, postgres: 0, redis: 0, neo4j: 0, registry: 0 };
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppidCmd = (await readFile(`/proc/${f[1]}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      // utime, stime, cutime, cstime (fields 14–17), in clock ticks of 1/100 s
      const own = (Number(f[11]) + Number(f[12])) / 100;
      const reaped = (Number(f[13]) + Number(f[14])) / 100;
      const name = /kafka\.Kafka|kafka-server|org\.apache\.kafka/.test(cmd) ? 'kafka'
        : /neo4j/i.test(cmd) && /java/.test(cmd) ? 'neo4j'
        : /redis-server/.test(cmd) ? 'redis'
        : /schema-registry/.test(cmd) ? 'registry'
        : /postgres/.test(cmd) && /\/postgres\b.*-D/.test(cmd) && !/postgres/.test(ppidCmd.split(' ')[0] ?? '') ? 'postgres'
        : undefined;
      if (!name) continue;
      out[name]! += own + (name === 'postgres' ? reaped : 0);
      if (name === 'postgres') {
        // live backends and workers of this postmaster
        for (const child of (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean)) {
          const cs = await readFile(`/proc/${child}/stat`, 'utf8').catch(() => '');
          const cf = cs.slice(cs.lastIndexOf(')') + 2).split(' ');
          if (cf.length > 14) out.postgres! += (Number(cf[11]) + Number(cf[12])) / 100;
        }
      }
    } catch { /* gone */ }
  }
  return out;
}

/** CPU seconds the given processes have used so far (utime + stime from /proc, clock ticks of 1/100 s). */
async function pidCpuSeconds(pids: readonly number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f.length > 13) total += (Number(f[11]) + Number(f[12])) / 100;
  }
  return total;
}
