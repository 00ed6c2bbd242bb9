// Replay by event time against the real Kafka and Schema Registry: bars of 2024 backfilled today (old event times, new
// Kafka timestamps, so the broker's offset-for-time cannot find them) are replayed from 2024-06-01 by their event time,
// and the group then reads exactly the bars from that date on. Where a partition holds a live bar before backfilled
// history, the replay starts at the first record at or after T, so nothing at or after T is missed (the older bars after
// it are read again too: the sinks' upserts make that harmless). Records stamped well before T are not read at all.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Partitioners, type Admin, type Kafka, type PartitionMetadata } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde, type Serde } from '../../lib/serde.ts';
import { backfill, createHistorySource } from '../../ops/backfill.ts';
import { eventTimeOf, EVENT_TIME_LEAD_MS } from '../../ops/replay/event-time.ts';
import { replay } from '../../ops/replay.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { consumeMessages, deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor,
  type ConsumedMessage } from '../helpers/index.ts';

const run = promisify(execFile);
const PARTITIONS = 3;
const config = testConfig({ TOPIC_PARTITIONS: String(PARTITIONS) });
const logger = testLogger('replay-event-time-test');
const T = Date.UTC(2024, 5, 1); // 2024-06-01
const env = { ...process.env, TOPIC_PARTITIONS: String(PARTITIONS), LOG_LEVEL: 'error' };

/** The partition kafkajs's default partitioner (the publisher's) puts a key in. */
function partitionOf(key: string): number {
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, i) =>
    ({ partitionId: i, leader: 0, replicas: [0], isr: [0] }) as unknown as PartitionMetadata);
  return Partitioners.DefaultPartitioner()({ topic: 'any', partitionMetadata, message: { key, value: null } });
}

/** Symbols in distinct partitions: each partition then holds one symbol's bars, in event-time order. */
function symbolsInDistinctPartitions(n: number): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const s = randomSymbol();
    if (!out.some((x) => partitionOf(x) === partitionOf(s))) out.push(s);
  }
  return out;
}

describe('replay --event-time', () => {
  let kafka: Kafka;
  let admin: Admin;
  let serde: Serde;
  let publisher: Publisher;
  const topics: TopicDef<PriceUpdate>[] = [];
  const groups: string[] = [];
  const topicOf = (prefix: string) => { const t = withName(priceUpdates, randomName(prefix)); topics.push(t); return t; };
  const groupOf = () => { const g = randomName('test-replay-et-group'); groups.push(g); return g; };
  const decode = async (topic: TopicDef<PriceUpdate>, ms: readonly ConsumedMessage[]) =>
    Promise.all(ms.map(async (m) => (await serde.decode(topic, m.value!)).value));
  const id = (b: PriceUpdate) => `${b.symbol}@${new Date(b.eventTime).toISOString()}`;
  const committed = async (groupId: string, topic: string) => Object.fromEntries(((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [])
    .map((p) => [p.partition, Number(p.offset)]));
  const ends = async (topic: string) => Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  /** The group reads the whole topic and commits: it is at the end of every partition. */
  const readAll = async (groupId: string, topic: TopicDef<PriceUpdate>, count: number) => {
    await consumeMessages(kafka, topic.name, count, { groupId });
    await waitFor(async () => {
      const [c, e] = [await committed(groupId, topic.name), await ends(topic.name)];
      return Object.entries(e).every(([p, end]) => (c[p] ?? -1) === end || (end === 0 && (c[p] ?? -1) < 0));
    }, { what: 'group committed at the end' });
  };
  const backfill2024 = async (topic: TopicDef<PriceUpdate>, symbols: string[]) => {
    const r = await backfill({
      config, logger, publisher, source: createHistorySource('synthetic', { config, logger }), symbols,
      from: Date.UTC(2024, 0, 1), to: Date.UTC(2025, 0, 1), interval: '1d', parallel: 2, topic,
    });
    expect(r.failed).toBe(0);
    return r.published;
  };

  beforeAll(async () => {
    kafka = testKafka(config);
    admin = kafka.admin();
    await admin.connect();
    serde = createSerde(config);
    publisher = createPublisher({ kafka, serde, logger });
    await publisher.connect();
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await admin?.deleteGroups(groups).catch(() => {});
    await admin?.disconnect();
    await deleteTestTopics(kafka, topics.flatMap((t) => [t.name, t.dlq]));
  });

  it('the event time of each contract is its own field', () => {
    expect(eventTimeOf(priceUpdates)?.field).toBe('eventTime');
    expect(eventTimeOf(marketEvents)?.field).toBe('publishedAt');
    expect(eventTimeOf(graphMutations)?.field).toBe('mutationTime');
    expect(eventTimeOf(withName(priceUpdates, 'elsewhere'))?.field).toBe('eventTime');
  });

  it('backfilled 2024 bars: after --event-time 2024-06-01 the group reads exactly the bars from that date on', async () => {
    const topic = topicOf('test-replay-et');
    const groupId = groupOf();
    await ensureTopics(kafka, config, [topic]);
    const symbols = symbolsInDistinctPartitions(2);
    const published = await backfill2024(topic, symbols);
    await readAll(groupId, topic, published);

    // Every bar in the topic, and those whose event time is at or after T: what the group must read again.
    const all = await decode(topic, await readTopic(kafka, topic.name));
    expect(all).toHaveLength(published);
    expect(new Set(all.map((b) => b.symbol))).toEqual(new Set(symbols));
    const expected = all.filter((b) => b.eventTime >= T).map(id).sort();
    expect(expected.length).toBeGreaterThan(100);
    expect(expected.length).toBeLessThan(all.length);

    // Kafka timestamps cannot tell: every bar was stamped today, so --to-datetime 2024-06-01 would replay them all.
    const byKafkaTime = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'time', at: T }, dryRun: true });
    expect(byKafkaTime.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(published);

    // The CLI's dry run shows the plan and what it scanned, and changes nothing.
    const before = await committed(groupId, topic.name);
    const dry = JSON.parse((await run(process.execPath,
      ['bin/marketstream.js', 'replay', '--group', groupId, '--topic', topic.name, '--event-time', '2024-06-01', '--dry-run', '--json'], { env })).stdout) as {
      applied: boolean; target: string; scan: { records: number; recordsPerSecond: number };
        changes: Array<{ partition: number; lagAfter: number; eventTime?: { matchEventTime: number | null } }>;
    };
    expect(dry.applied).toBe(false);
    expect(dry.target).toBe('event time 2024-06-01T00:00:00.000Z');
    expect(dry.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(expected.length);
    // Each symbol's partition was read up to its first bar of June (its first trading day, at T or just after).
    expect(dry.scan.records).toBe(published - expected.length + symbols.length);
    for (const c of dry.changes.filter((x) => x.lagAfter > 0)) expect(c.eventTime?.matchEventTime).toBeGreaterThanOrEqual(T);
    expect(await committed(groupId, topic.name)).toEqual(before);

    const r = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'event-time', at: T }, config });
    expect(r.applied).toBe(true);
    expect(r.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(expected.length);
    for (const c of r.changes) expect(c.eventTime?.match ?? c.latest).toBe(c.after);

    // The group, consuming again from its new offsets, reads exactly the bars of 2024-06-01 and later.
    const again = await decode(topic, await consumeMessages(kafka, topic.name, expected.length, { groupId }));
    expect(again.map(id).sort()).toEqual(expected);
    expect(again.every((b) => b.eventTime >= T && b.source === 'backfill')).toBe(true);
  });

  it('a live bar before backfilled history: the replay starts at the first record at or after T, so none is missed', async () => {
    const topic = topicOf('test-replay-et-mixed');
    const groupId = groupOf();
    await ensureTopics(kafka, config, [topic]);
    const [symbol] = symbolsInDistinctPartitions(1) as [string];
    const now = Date.now();
    const live: PriceUpdate = { symbol, interval: '1m', eventTime: Math.floor(now / 60_000) * 60_000 - 60_000, open: 10, high: 11, low: 9, close: 10, volume: 5,
      source: 'synthetic', ingestTime: now, quality: 1 };
    await publisher.send(topic, [live], { source: 'test' });
    const published = 1 + await backfill2024(topic, [symbol]);
    await readAll(groupId, topic, published);

    const r = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'event-time', at: T }, config });
    const mine = r.changes.find((c) => c.partition === partitionOf(symbol))!;
    // The partition is [live bar, 2024-01-02 … 2024-12-31]: its first record at or after T is the live bar, at its start.
    expect(mine).toMatchObject({ after: '0', eventTime: { match: '0', matchEventTime: live.eventTime, scanned: 1 } });
    const again = await decode(topic, await consumeMessages(kafka, topic.name, published, { groupId }));
    const wanted = [live, ...(await decode(topic, await readTopic(kafka, topic.name))).filter((b) => b.eventTime >= T)].map(id);
    expect(again.map(id)).toEqual(expect.arrayContaining(wanted)); // every bar at or after T, the live one included
    expect(again.length).toBe(published); // and the bars of January–May 2024 after it, again
  });

  it('records stamped more than a day before T are not read: the scan starts at the broker\'s offset for T − 1 day', async () => {
    const topic = topicOf('test-replay-et-skip');
    const groupId = groupOf();
    await ensureTopics(kafka, config, [topic]);
    const [symbol] = symbolsInDistinctPartitions(1) as [string];
    const p = partitionOf(symbol);
    const now = Date.now();
    const bar = (eventTime: number): PriceUpdate =>
      ({ symbol, interval: '1m', eventTime, open: 10, high: 11, low: 9, close: 10, volume: 5, source: 'synthetic', ingestTime: eventTime, quality: 1 });
    // Three bars produced three days ago (Kafka timestamp then), then three produced now, a minute apart.
    const old = [3, 2, 1].map((k) => bar(now - 3 * 86_400_000 - k * 60_000));
    const recent = [3, 2, 1].map((k) => bar(now - k * 60_000));
    const encode = await serde.encoder(topic);
    await publisher.sendRaw(topic.name, old.map((b) => ({ key: symbol, value: encode(b), partition: p, timestamp: String(b.eventTime) })));
    await publisher.sendRaw(topic.name, recent.map((b) => ({ key: symbol, value: encode(b), partition: p })));
    const at = now - 90_000; // between the second and the third recent bar
    expect(at - EVENT_TIME_LEAD_MS).toBeGreaterThan(old[2]!.eventTime);
    const r = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'event-time', at }, config, dryRun: true });
    const mine = r.changes.find((c) => c.partition === p)!;
    expect(mine).toMatchObject({ after: '5', eventTime: { from: '3', scanned: 3, match: '5', matchEventTime: recent[2]!.eventTime } });
    expect(r.scan?.records).toBe(3);
  });

  it('a topic whose records have no event time is refused, naming it', async () => {
    const topic = topicOf('test-replay-et-none');
    await ensureTopics(kafka, config, [topic]);
    await publisher.sendRaw(topic.name, [{ key: 'k', value: Buffer.from('not avro') }]);
    await expect(replay(kafka, { groupId: groupOf(), topics: [topic.name], target: { kind: 'event-time', at: T }, config, dryRun: true }))
      .rejects.toThrow(new RegExp(`${topic.name}: the registry has no subject ${topic.name}-value`));
  });
});
