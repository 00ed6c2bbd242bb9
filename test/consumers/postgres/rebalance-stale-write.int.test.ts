// A write handed off before a rebalance finishes after it (issue #19, sequence 1), caused for real: member A of
// postgres-sink writes event X through a TCP proxy that holds it (the call stays in flight, its connection open); member
// B joins the group and takes X's partition, reads from the last commit (X and then its tombstone), writes both and
// commits. Then A's held write lands. The store refuses it (X's tombstone is newer), so X stays absent, and the group's
// committed offsets end at the partitions' ends. One event per partition, as which partition B takes is the assignor's choice.
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import { createKafka } from '../../../lib/kafka.ts';
import { createPublisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createPgPool } from '../../../lib/stores/postgres.ts';
import { marketEvents, priceUpdates, withName } from '../../../topics/index.ts';
import { createTestTopic, deleteEventRows, deleteTestTopics, eventFactory, randomName, testConfig, testLogger, waitFor } from '../../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';

const prefix = randomName('test-stale-write');
const events = withName(marketEvents, randomName('test-stale-write-events'));
const prices = withName(priceUpdates, randomName('test-stale-write-prices'));
const base = { KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '2', METRICS_PORT: '0', KAFKA_SESSION_TIMEOUT_MS: '6000', SINK_COMMIT_INTERVAL_MS: '100' };
const groupId = `${prefix}.postgres-sink`;
const logger = testLogger('rebalance-stale-write-test');

describe('a write held across a rebalance, then a tombstone by the new owner', () => {
  const config = testConfig(base);
  const kafka = createKafka(config, logger, 'rebalance-stale-write-test');
  const admin = kafka.admin();
  const pool = createPgPool(config, { max: 2 });
  const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  const { ids, newEvent } = eventFactory();
  const members: RunningSinks[] = [];
  let proxy: TcpProxy | undefined;

  afterAll(async () => {
    proxy?.release();
    await Promise.all(members.map((m) => m.stop()));
    await proxy?.close();
    await publisher.disconnect();
    await deleteEventRows(pool, ids);
    await pool.end();
    await admin.disconnect();
    await deleteTestTopics(kafka, [events.name, events.dlq, prices.name, prices.dlq]);
  });

  const partitionOf = (() => {
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1].map((partitionId) => ({ partitionId, leader: 0 }) as PartitionMetadata);
    return (key: string) => partitioner({ topic: events.name, partitionMetadata, message: { key, value: null } });
  })();
  const committed = async () => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [events.name] });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  };
  const present = async (eventIds: string[]) =>
    (await pool.query<{ id: string }>('SELECT id FROM market_events WHERE id = ANY($1) ORDER BY id', [eventIds])).rows.map((r) => r.id);

  it('the held write of X lands after X\'s tombstone and is refused: X stays absent, offsets end at the ends', { timeout: 120_000 }, async () => {
    await admin.connect();
    await createTestTopic(kafka, { name: events.name, partitions: 2 });
    await publisher.connect();
    // One event on each partition.
    const xs: ReturnType<typeof newEvent>[] = [];
    while (xs.length < 2) {
      const e = newEvent();
      if (partitionOf(e.id) === xs.length) xs.push(e);
    }
    const xIds = xs.map((e) => e.id);

    const pg = new URL(config.POSTGRES_URL);
    proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    const viaProxy = new URL(config.POSTGRES_URL);
    viaProxy.port = String(proxy.port);
    members.push(await startSinks({ config: testConfig({ ...base, POSTGRES_URL: viaProxy.toString() }), logger, names: ['postgres'],
      topics: { events, prices } }));
    await waitFor(async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Stable', { what: 'member A in the group', timeoutMs: 30_000 });

    proxy.hold();
    await publisher.send(events, xs, { source: 'test' });
    await waitFor(async () => proxy!.held() > 0, { what: 'member A writing X, held', timeoutMs: 30_000 });
    await sleep(500); // both partitions' writes under way

    members.push(await startSinks({ config, logger, names: ['postgres'], topics: { events, prices } }));
    await waitFor(async () => {
      const g = (await admin.describeGroups([groupId])).groups[0];
      return g?.state === 'Stable' && g.members.length === 2;
    }, { what: 'both members in the group', timeoutMs: 60_000 });
    for (const id of xIds) await publisher.sendTombstone(events, id, { source: 'test' });
    const ends = new Map((await admin.fetchTopicOffsets(events.name)).map((p) => [p.partition, BigInt(p.high)]));
    // Member B (not behind the proxy) owns one partition: it writes X and its tombstone there, and commits to the end.
    await waitFor(async () => { const c = await committed(); return [...ends].some(([p, end]) => c.get(p) === end); },
      { what: 'the new owner committed its partition to the end', timeoutMs: 30_000 });
    expect(await present(xIds)).toEqual([]);

    proxy.release();
    await waitFor(async () => { const c = await committed(); return [...ends].every(([p, end]) => c.get(p) === end); },
      { what: 'every partition committed to its end', timeoutMs: 60_000 });
    await sleep(2000); // anything member A still had in flight has landed
    expect(await present(xIds)).toEqual([]);
    const c = await committed();
    expect([...ends].map(([p]) => [p, c.get(p)])).toEqual([...ends].map(([p, end]) => [p, end]));
  });
});
