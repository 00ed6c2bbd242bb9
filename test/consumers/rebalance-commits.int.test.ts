// Commits scoped to the assignment (issue #19, sequence 2), against the real servers: member A of postgres-sink holds
// written but not yet committed offsets of all six partitions (a long SINK_COMMIT_INTERVAL_MS) when member B joins and
// takes three of them; B writes more records and commits them. A's waiting commits belonged to its old assignment: they
// must be dropped, not sent under the new generation over B's. The group's committed offsets never move back while
// this happens, and end at the end of every partition.
import { afterAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, committedOffsets, deleteTestTopics, randomName, symbolsInEveryPartition, testConfig, testLogger, waitFor, watchCommittedOffsets } from '../helpers/index.ts';

const prefix = randomName('test-rebalance-commits');
const prices = withName(priceUpdates, randomName('test-rebalance-commits-prices'));
const base = { KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '6', METRICS_PORT: '0', KAFKA_SESSION_TIMEOUT_MS: '6000' };
const configA = testConfig({ ...base, SINK_COMMIT_INTERVAL_MS: '12000' });
const configB = testConfig({ ...base, SINK_COMMIT_INTERVAL_MS: '100' });
const logger = testLogger('rebalance-commits-test');
const groupId = `${prefix}.postgres-sink`;
// Four symbols in each partition: with 24 random ones a partition was sometimes left without records (so without a
// commit), and the test waited for a commit that had nothing to commit.
const SYMBOLS = symbolsInEveryPartition(6, 4);
const BARS = 10;

describe('a rebalance while a member holds written, uncommitted offsets', () => {
  const kafka = createKafka(configA, logger, 'rebalance-commits-test');
  const admin = kafka.admin();
  const pool = createPgPool(configA);
  const publisher = createPublisher({ kafka, serde: createSerde(configA), logger });
  const members: RunningSinks[] = [];

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    await publisher.disconnect();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [SYMBOLS]);
    await pool.end();
    await admin.disconnect();
    await deleteTestTopics(kafka, [prices.name, prices.dlq]);
  });

  const committed = () => committedOffsets(admin, groupId, prices.name);
  const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [SYMBOLS])).rows[0].count);
  const wave = (w: number) => publisher.send(prices, SYMBOLS.flatMap((s) => Array.from({ length: BARS }, (_, i) => bar(s, w * BARS + i, 100 + i))),
    { source: 'test' });

  it('the old assignment\'s waiting commits are dropped: committed offsets never fall, and end at the end', { timeout: 180_000 }, async () => {
    await admin.connect();
    await ensureTopics(kafka, configA, [prices]);
    await publisher.connect();
    members.push(await startSinks({ config: configA, logger, names: ['postgres'], topics: { prices } }));
    await wave(0);
    await waitFor(async () => (await rows()) === SYMBOLS.length * BARS, { timeoutMs: 60_000, what: 'member A wrote the first wave' });
    expect([...(await committed()).values()].every((o) => o < 0n)).toBe(true); // written, not committed yet (12 s interval)

    // Every 200 ms from now on: the group's committed offsets, per partition, must never be lower than before.
    const watch = watchCommittedOffsets(admin, groupId, prices.name);

    members.push(await startSinks({ config: configB, logger, names: ['postgres'], topics: { prices } }));
    await waitFor(async () => {
      const g = (await admin.describeGroups([groupId])).groups[0];
      return g?.state === 'Stable' && g.members.length === 2;
    }, { timeoutMs: 60_000, what: 'both members in the group' });
    await wave(1);
    const ends = new Map((await admin.fetchTopicOffsets(prices.name)).map((p) => [p.partition, BigInt(p.high)]));
    // Past member A's commit interval, so its waiting commits would have been sent.
    await waitFor(async () => {
      const c = await committed();
      const n = await rows();
      if (n === 2 * SYMBOLS.length * BARS && [...ends].every(([p, end]) => c.get(p) === end)) return true;
      // Not yet: what is missing, for the timeout's message.
      throw new Error(`rows ${n} of ${2 * SYMBOLS.length * BARS}; committed/end ${[...ends].map(([p, end]) => `${p}:${c.get(p)}/${end}`).join(' ')}`);
    }, { timeoutMs: 90_000, what: 'every partition committed to its end' }); // a loaded machine: the rejoin, a re-read, a 12 s interval
    await new Promise((r) => setTimeout(r, 14_000));
    const decreases = await watch.stop();

    expect(decreases).toEqual([]);
    const c = await committed();
    expect([...ends].map(([p, end]) => [p, c.get(p)])).toEqual([...ends].map(([p, end]) => [p, end]));
  });
});
