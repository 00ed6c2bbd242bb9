// Scaling across processes: two members of postgres-sink run as two OS processes (`marketstream consume postgres`,
// namespaced by KAFKA_GROUP_PREFIX and PRICE_UPDATES_TOPIC) over a stream of 20,000 distinct bars produced while they
// run; one is SIGKILLed mid-stream. The survivor takes over its partitions and every bar ends in PostgreSQL exactly
// once with the expected content. Because upserts hide re-writes, the stream also carries invalid "marker" records that
// the sink dead-letters: a marker processed twice shows up twice in the DLQ, so the DLQ proves that only records past
// the committed offsets were processed again.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { randomSymbol, readTopic, waitFor } from '../helpers/index.ts';
import { sinkProcesses, type Member } from './sink-processes.ts';

const { AssignerProtocol } = kafkajs;
const SYMBOLS = 40;
const BARS_PER_SYMBOL = 500;
const MARKER_EVERY = 50; // one invalid record after every 50 bars of a symbol
const T0 = Date.UTC(2025, 5, 2, 13, 30);
const MINUTE = 60_000;

function bar(symbol: string, i: number, k: number): PriceUpdate {
  const close = 50 + k + (i % 97) / 10;
  return { symbol, interval: '1m', eventTime: T0 + i * MINUTE, open: close - 0.5, high: close + 1, low: close - 1, close, volume: 1000 + i, source: 'synthetic',
    ingestTime: T0 + i * MINUTE + 500, quality: 1 };
}
/** Avro-valid but breaks OHLC (high below open and close): the sink dead-letters it. Its own event time, never a row. */
function marker(symbol: string, n: number): PriceUpdate {
  return { symbol, interval: '1m', eventTime: T0 - (n + 1) * MINUTE, open: 10, high: 5, low: 4, close: 10, volume: 1, source: 'synthetic',
    ingestTime: T0, quality: 1 };
}
const rowKey = (r: { symbol: string; t: number; close: number; volume: number }) => `${r.symbol}|${r.t}|${r.close}|${r.volume}`;
const checksum = (keys: string[]) => createHash('sha256').update([...keys].sort().join('\n')).digest('hex');

describe('postgres-sink scaled over two processes', () => {
  // A short session timeout: the survivor takes over the killed member's partitions within seconds, not 30 s.
  const f = sinkProcesses('scale', { TOPIC_PARTITIONS: '6', KAFKA_SESSION_TIMEOUT_MS: '6000' });
  const { admin, kafka, topic, groupId, prefix, symbols, members } = f;
  symbols.push(...Array.from({ length: SYMBOLS }, randomSymbol));

  /** clientId → partitions, from the group's current assignment. */
  async function assignment(): Promise<Map<string, number[]>> {
    const g = (await admin.describeGroups([groupId])).groups[0];
    const out = new Map<string, number[]>();
    if (g?.state !== 'Stable') return out;
    for (const m of g.members) {
      const a = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      out.set(m.clientId, [...(a?.assignment[topic.name] ?? [])].sort());
    }
    return out;
  }
  const committed = async () => new Map(((await admin.fetchOffsets({ groupId, topics: [topic.name] }))[0]?.partitions ?? []).map((p) =>
    [p.partition, Number(p.offset)]));
  const rowCount = f.rows;

  it('a member killed mid-stream loses and doubles nothing: the survivor re-processes only uncommitted records', async () => {
    f.start('a');
    f.start('b');
    const [a, b] = members as [Member, Member];
    const clientA = `${prefix}-a-sinks`;
    try {
      await waitFor(async () => { const as = await assignment(); return as.size === 2 && [...as.values()].every((ps) => ps.length > 0); },
        { what: 'two members sharing the partitions', timeoutMs: 60_000 });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${a.output.join('')}${b.output.join('')}`);
    }
    const killedPartitions = (await assignment()).get(clientA)!;

    // The stream: per symbol, bars in event-time order with a marker after every 50; sent in 20 slices while both run.
    const records: PriceUpdate[] = [];
    for (let i = 0; i < BARS_PER_SYMBOL; i++) {
      symbols.forEach((s, k) => {
        records.push(bar(s, i, k));
        if ((i + 1) % MARKER_EVERY === 0) records.push(marker(s, (i + 1) / MARKER_EVERY));
      });
    }
    const markers = SYMBOLS * (BARS_PER_SYMBOL / MARKER_EVERY);
    const slice = Math.ceil(records.length / 20);
    let sent = 0;
    let committedAtKill: Map<number, number> | null = null;
    while (sent < records.length) {
      if (!committedAtKill && sent >= records.length * 0.4) {
        // Kill A once it has written part of the stream, just after a new slice arrived (likely mid-batch).
        await waitFor(async () => (await rowCount()) >= 3000, { what: 'part of the stream written', timeoutMs: 60_000 });
        await f.publisher.send(topic, records.slice(sent, sent + slice), { source: 'test' });
        sent += slice;
        await sleep(20);
        a.child.kill('SIGKILL');
        await a.exited;
        committedAtKill = await committed(); // A can commit nothing more
        continue;
      }
      await f.publisher.send(topic, records.slice(sent, sent + slice), { source: 'test' });
      sent += slice;
      await sleep(100);
    }

    // B gets A's partitions once the coordinator drops A (session timeout), then catches up.
    await waitFor(async () => (await assignment()).get(`${prefix}-b-sinks`)?.length === 6, { what: 'survivor owning every partition', timeoutMs: 90_000 });
    const ends = new Map((await admin.fetchTopicOffsets(topic.name)).map((p) => [p.partition, Number(p.high)]));
    await waitFor(async () => { const c = await committed(); return [...ends].every(([p, end]) => (c.get(p) ?? 0) >= end || end === 0); },
      { what: 'survivor caught up', timeoutMs: 90_000 });

    // Exactly the expected rows, each once, with the expected content.
    const expected = records.filter((r) => r.high >= r.close).map((r) => rowKey({ symbol: r.symbol, t: r.eventTime, close: r.close, volume: r.volume }));
    expect(expected).toHaveLength(SYMBOLS * BARS_PER_SYMBOL);
    const { rows } = await f.pool.query(`SELECT symbol, extract(epoch FROM ts) * 1000 AS t, close, volume FROM price_data WHERE symbol = ANY($1)`, [symbols]);
    const stored = rows.map((r) => rowKey({ symbol: r.symbol, t: Number(r.t), close: r.close, volume: r.volume }));
    expect(stored).toHaveLength(expected.length);
    expect(new Set(stored).size).toBe(stored.length);
    expect(checksum(stored)).toBe(checksum(expected));

    // Write level, through the DLQ: every marker was processed at least once, and the ones processed twice all lie at
    // or after the offset committed when A died (never a record whose offset was already committed). And a DLQ reader
    // (read_committed) sees each once: dead letters and their batch's offsets went in one transaction.
    const dead = await readTopic(kafka, topic.dlq); // to its end (its offsets include the dead-letter transactions' markers)
    const seen = new Map<string, number>();
    for (const m of dead) {
      const key = `${m.headers['original-partition']}:${m.headers['original-offset']}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBe(markers);
    const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k.split(':').map(Number) as [number, number]);
    for (const [p, offset] of twice) expect(offset, `marker at ${p}:${offset} re-processed`).toBeGreaterThanOrEqual(committedAtKill!.get(p) ?? 0);
    expect(twice, 'markers in the DLQ twice').toEqual([]);
    // A's partitions were finished by B: nothing of them was left behind at A's last commit.
    for (const p of killedPartitions) expect(ends.get(p)!).toBeGreaterThan(committedAtKill!.get(p) ?? 0);
    expect(b.child.exitCode).toBeNull();
  }, 240_000);
});
