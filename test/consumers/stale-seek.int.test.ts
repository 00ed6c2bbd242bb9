// A seek-back for a partition that then moves away (issue #19, sequence 3), caused for real: member A of postgres-sink
// writes through a TCP proxy that is cut, so its batches of both partitions retry; member B joins, which abandons them
// and makes A seek each back to its first offset, and takes one partition. kafkajs keeps the seek of that partition (it
// applies a seek at the partition's next fetch, and A no longer fetches it). B writes on and commits far past it. When B
// leaves, the partition comes back to A, and kafkajs applies the old seek: without the runner's seek log, A would read
// again from there what B had written and committed, and commit offsets below B's. A reads only what is new, the
// group's committed offsets never move back, and they end at the partitions' ends.
import { afterAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { bar, committedOffsets, deleteTestTopics, randomName, randomSymbol, testConfig, testLogger, waitFor, watchCommittedOffsets } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const prefix = randomName('test-stale-seek');
const prices = withName(priceUpdates, randomName('test-stale-seek-prices'));
const events = withName(marketEvents, randomName('test-stale-seek-events')); // the sink's other topic, empty here
// Small fetches (many batches), quick retries, a short session: the rebalances take seconds.
const base = {
  KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '2', METRICS_PORT: '0', KAFKA_SESSION_TIMEOUT_MS: '6000', SINK_RETRY_MAX_MS: '200',
  SINK_FETCH_PARTITION_MAX_BYTES: '1024', SINK_FETCH_MAX_BYTES: '2048', SINK_COMMIT_INTERVAL_MS: '100',
};
const config = testConfig(base);
const logger = testLogger('stale-seek-test');
const groupId = `${prefix}.postgres-sink`;
const SYMBOLS = Array.from({ length: 16 }, randomSymbol);
const BARS = 20;

describe('a seek-back kafkajs keeps for a partition that moved to another member', () => {
  const kafka = createKafka(config, logger, 'stale-seek-test');
  const admin = kafka.admin();
  const pool = createPgPool(config);
  const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  const members: RunningSinks[] = [];
  let proxy: TcpProxy | undefined;

  afterAll(async () => {
    proxy?.restore();
    await Promise.all(members.map((m) => m.stop()));
    await proxy?.close();
    await publisher.disconnect();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [SYMBOLS]);
    await pool.end();
    await admin.disconnect();
    await deleteTestTopics(kafka, [prices.name, prices.dlq, events.name, events.dlq]);
  });

  const committed = () => committedOffsets(admin, groupId, prices.name);
  const members2 = async () => {
    const g = (await admin.describeGroups([groupId])).groups[0];
    return g?.state === 'Stable' ? g.members.length : 0;
  };
  const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [SYMBOLS])).rows[0].count);
  const wave = (w: number) => publisher.send(prices, SYMBOLS.flatMap((s) => Array.from({ length: BARS }, (_, i) => bar(s, w * BARS + i, 100 + i))),
    { source: 'test' });
  const atEnds = async () => {
    const ends = await admin.fetchTopicOffsets(prices.name);
    const c = await committed();
    return ends.every((p) => p.high === '0' || c.get(p.partition) === BigInt(p.high));
  };

  it('the old seek is not applied: committed offsets never move back, and end at the end', { timeout: 150_000 }, async () => {
    await admin.connect();
    await ensureTopics(kafka, config, [prices, events]);
    await publisher.connect();
    const pg = new URL(config.POSTGRES_URL);
    proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    const viaProxy = new URL(config.POSTGRES_URL);
    viaProxy.port = String(proxy.port);
    let retries = 0;
    let alone = false;
    let readAlone = 0; // records of the prices topic member A handled once alone again
    const a = await startSinks({ config: testConfig({ ...base, POSTGRES_URL: viaProxy.toString() }), logger, names: ['postgres'], topics: { prices, events },
      hooks: { onRetry: () => { retries++; }, onWritten: (e) => { if (alone && e.topic === prices.name) readAlone += e.records; } } });
    members.push(a);
    await wave(0);
    await waitFor(async () => (await rows()) === SYMBOLS.length * BARS && (await atEnds()), { timeoutMs: 60_000, what: 'member A wrote and committed wave 0' });

    // Every 200 ms from now on: the group's committed offsets, per partition, must never be lower than before.
    const watch = watchCommittedOffsets(admin, groupId, prices.name);

    const afterWave0 = await committed();
    proxy.cut(); // A's store is unreachable: its next batches retry
    await wave(1);
    await waitFor(() => retries >= 4, { timeoutMs: 30_000, what: 'member A retrying its batches' });
    const b = await startSinks({ config, logger, names: ['postgres'], topics: { prices, events } });
    members.push(b);
    await waitFor(async () => (await members2()) === 2, { timeoutMs: 60_000, what: 'both members in the group' });
    // B writes its partition's waves 1 and 2 and commits them, far past where A sought back.
    await wave(2);
    await waitFor(async () => [...await committed()].some(([p, o]) => o > (afterWave0.get(p) ?? -1n)),
      { timeoutMs: 60_000, what: 'member B committing past A\'s seek' });
    proxy.restore();
    await waitFor(async () => (await rows()) === 3 * SYMBOLS.length * BARS && (await atEnds()), { timeoutMs: 60_000, what: 'both partitions written' });

    // B leaves: its partition comes back to A, with the seek kafkajs kept for it.
    await b.stop();
    members.pop();
    await waitFor(async () => (await members2()) === 1, { timeoutMs: 60_000, what: 'member A alone again' });
    alone = true;
    await wave(3);
    await waitFor(async () => (await rows()) === 4 * SYMBOLS.length * BARS && (await atEnds()), { timeoutMs: 60_000, what: 'member A caught up alone' });
    await new Promise((r) => setTimeout(r, 2000));
    const decreases = await watch.stop();
    expect(decreases).toEqual([]);
    expect(await atEnds()).toBe(true);
    // Alone again, A read wave 3 and nothing B had already written and committed.
    expect(readAlone).toBe(SYMBOLS.length * BARS);
  });
});
