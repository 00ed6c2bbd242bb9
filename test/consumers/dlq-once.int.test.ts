// A dead letter is published once: a postgres-sink process (`marketstream consume postgres`, namespaced by
// KAFKA_GROUP_PREFIX and PRICE_UPDATES_TOPIC) dead-letters invalid bars, and is SIGKILLed after every one of them is in
// the DLQ but (SINK_COMMIT_INTERVAL_MS of a minute) before a plain commit would have gone out. Started again, it reads
// from the group's commit. With the dead letters and their batch's offsets in one Kafka transaction, a DLQ reader at
// read_committed sees each bad record once; published first and committed after, every one of them would be there twice
// (TEST_DLQ_TRANSACTIONS=false runs this test with SINK_DLQ_TRANSACTIONS=false, to see that).
import { describe, expect, it } from 'vitest';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { randomSymbol, readTopic, waitFor } from '../helpers/index.ts';
import { sinkProcesses } from './sink-processes.ts';

const T0 = Date.UTC(2025, 5, 2, 13, 30);
const MINUTE = 60_000;

function bar(symbol: string, i: number, valid: boolean): PriceUpdate {
  const close = 50 + (i % 7);
  // Avro-valid, but an invalid one breaks OHLC (high below open and close): the sink dead-letters it.
  return { symbol, interval: '1m', eventTime: T0 + i * MINUTE, open: close, high: valid ? close + 1 : close - 5, low: close - 6, close, volume: 100 + i,
    source: 'synthetic', ingestTime: T0 + i * MINUTE, quality: 1 };
}

describe('dead letters across a SIGKILL between the DLQ publish and the commit', () => {
  const f = sinkProcesses('dlq-once', {
    TOPIC_PARTITIONS: '3', SINK_COMMIT_INTERVAL_MS: '60000', SINK_DLQ_TRANSACTIONS: process.env.TEST_DLQ_TRANSACTIONS ?? 'true', KAFKA_SESSION_TIMEOUT_MS: '6000',
  });
  const { admin, kafka, topic, groupId } = f;
  f.symbols.push(...Array.from({ length: 6 }, randomSymbol));

  it('each bad record is in the DLQ once, and the good ones are written once', async () => {
    const records = f.symbols.flatMap((s) => Array.from({ length: 40 }, (_, i) => bar(s, i, i % 10 !== 3)));
    const bad = records.filter((r) => r.high < r.close).length;
    await f.publisher.send(topic, records, { source: 'test' });
    const deadLetters = async () => (await readTopic(kafka, topic.dlq, { timeoutMs: 30_000 })).filter((m) => m.key && f.symbols.includes(m.key.toString()));
    const rows = f.rows;

    const first = f.start('first');
    await waitFor(async () => (await rows()) === records.length - bad && (await deadLetters()).length >= bad,
      { what: 'the first member writing the bars and dead-lettering the bad ones', timeoutMs: 60_000 });
    const membersOf = async () => (await admin.describeGroups([groupId])).groups[0];
    const killed = new Set((await membersOf())?.members.map((m) => m.memberId));
    first.child.kill('SIGKILL');
    await first.exited;

    const second = f.start('second');
    const ends = new Map((await admin.fetchTopicOffsets(topic.name)).map((p) => [p.partition, BigInt(p.high)]));
    // The second member reads what the group had not committed, then (SIGTERM) drains and commits what it wrote.
    await waitFor(async () => {
      const g = await membersOf();
      return g?.state === 'Stable' && g.members.length === 1 && !killed.has(g.members[0]!.memberId);
    }, { what: 'the second member in the group alone', timeoutMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 5000)); // it reads and writes the records past the group's commit
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output.join('')).toBe(0);
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic.name] }))[0]!.partitions;
    for (const p of committed) if (ends.get(p.partition)! > 0n) expect(BigInt(p.offset), `partition ${p.partition}`).toBe(ends.get(p.partition));

    const dead = await deadLetters();
    const byOrigin = new Map<string, number>();
    for (const m of dead) {
      const at = `${m.headers['original-partition']}:${m.headers['original-offset']}`;
      byOrigin.set(at, (byOrigin.get(at) ?? 0) + 1);
    }
    expect(byOrigin.size).toBe(bad);
    expect([...byOrigin].filter(([, n]) => n > 1), 'dead letters published more than once').toEqual([]);
    expect(await rows()).toBe(records.length - bad);
  }, 150_000);
});
