// Membership survives long outages and slow isolation: a member heartbeats on a timer for as long as a batch is in the
// runner's hands. Caused for real, with a short session timeout (6 s) so the test is quick:
// - PostgreSQL cut off (TCP proxy) for four session timeouts while a group has 3 members in 3 OS processes, with a
//   retry back-off longer than the session: no member is evicted (no new group join), nothing lost or dead-lettered;
// - one record PostgreSQL rejects as data (a store rule, a trigger, breaks on it) inside a 20,000-record batch: exactly
//   one DLQ record, and every other record is handed to the store once (the batch is not fetched again).
import { afterAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { groupLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { startCli, type CliProcess } from '../cli/cli-process.ts';
import { bar, BAR_T0, deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const SESSION_MS = 6000;

/** The longest pause between two retries of one partition's write that a member logged since `since`. */
function longestRetryGap(members: readonly CliProcess[], since: number): number {
  let longest = 0;
  for (const m of members) {
    const last = new Map<string, number>();
    for (const l of m.logs()) {
      if (typeof l.attempt !== 'number' || typeof l.time !== 'number' || l.time < since) continue;
      const at = `${String(l.topic)}:${String(l.partition)}`;
      const before = last.get(at);
      if (before !== undefined) longest = Math.max(longest, l.time - before);
      last.set(at, l.time);
    }
  }
  return longest;
}

describe('group membership under long outages and slow isolation', () => {
  const base = testConfig();
  const kafka = testKafka(base);
  const logger = testLogger('membership-test');
  const pool = createPgPool(base, { max: 1 });
  const topics: string[] = [];
  const symbols: string[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];

  afterAll(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await pool.end();
    await deleteTestTopics(kafka, topics);
  });

  it('a store down for four session timeouts under 3 member processes: no eviction, no rebalance, 0 lost', async () => {
    const pg = new URL(base.POSTGRES_URL);
    const proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    cleanup.push(() => proxy.close());
    const viaProxy = new URL(base.POSTGRES_URL);
    viaProxy.port = String(proxy.port);
    const topic = withName(priceUpdates, randomName('test-members'));
    topics.push(topic.name, topic.dlq);
    const env = {
      PRICE_UPDATES_TOPIC: topic.name, KAFKA_GROUP_PREFIX: randomName('test-members'), POSTGRES_URL: viaProxy.toString(), TOPIC_PARTITIONS: '6',
      KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS), SINK_RETRY_MAX_MS: String(3 * SESSION_MS), LOG_LEVEL: 'info', STALL_SECONDS: '600',
    };
    const config = testConfig(env);
    await ensureTopics(kafka, config, [topic]);
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    const mine = Array.from({ length: 12 }, randomSymbol);
    symbols.push(...mine);
    const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [mine])).rows[0].count);
    const publish = (from: number, to: number) =>
      publisher.send(topic, mine.flatMap((s) => Array.from({ length: to - from }, (_, i) => bar(s, from + i, 100 + i))), { source: 'test' });

    const members: CliProcess[] = [0, 1, 2].map(() => startCli(['consume', 'postgres'], env));
    cleanup.push(async () => { for (const m of members) if (m.child.exitCode === null) m.child.kill('SIGKILL'); });
    const joins = () => members.map((m) => m.logs().filter((l) => l.msg === 'joined group').length);
    await publish(0, 50);
    await waitFor(async () => (await rows()) === 12 * 50, { what: 'the first bars through 3 members', timeoutMs: 90_000 });
    // Settled: the broker holds the 3 members in a stable group, and each member logged its join of it (the same
    // counts on two polls a second apart: a join's log line is in).
    const admin = kafka.admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    let last = '';
    await waitFor(async () => {
      const g = (await admin.describeGroups([groupIdOf(config, 'postgres')])).groups[0];
      const now = joins().join();
      const steady = g?.state === 'Stable' && g.members.length === 3 && joins().every((n) => n > 0) && now === last;
      last = now;
      return steady;
    }, { what: 'a settled group of 3', timeoutMs: 120_000, intervalMs: 1000 });
    const settled = joins();

    proxy.cut();
    const cutAt = Date.now();
    await publish(50, 100);
    // Down for four session timeouts, and until a member has waited out a retry back-off longer than the session.
    await waitFor(() => Date.now() - cutAt >= 4 * SESSION_MS && longestRetryGap(members, cutAt) > SESSION_MS,
      { what: 'four session timeouts and a back-off longer than the session', timeoutMs: 120_000, intervalMs: 500 });
    expect(await rows()).toBe(12 * 50); // nothing could be written, nothing was skipped
    proxy.restore();

    await waitFor(async () => (await rows()) === 12 * 100, { what: 'every bar once PostgreSQL is back', timeoutMs: 120_000 });
    await waitFor(async () => (await groupLag(kafka, groupIdOf(config, 'postgres'), [topic.name])).every((p) => p.lag === 0),
      { what: 'lag 0', timeoutMs: 60_000 });
    expect(joins(), 'no member rejoined: nobody was evicted and the group did not rebalance').toEqual(settled);
    expect(members.every((m) => m.child.exitCode === null)).toBe(true);
    expect(await readTopic(kafka, topic.dlq)).toHaveLength(0);
  });

  it('one bad record in a 20,000-record batch: exactly one DLQ record, the batch is not fetched again', async () => {
    const topic = withName(priceUpdates, randomName('test-isolate'));
    topics.push(topic.name, topic.dlq);
    // Fetches large enough for the 20,000 records to come as one batch.
    const config = testConfig({
      KAFKA_GROUP_PREFIX: randomName('test-isolate'), TOPIC_PARTITIONS: '1', KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS),
      SINK_FETCH_MAX_BYTES: '10485760', SINK_FETCH_PARTITION_MAX_BYTES: '10485760',
    });
    await ensureTopics(kafka, config, [topic]);
    const symbol = randomSymbol();
    symbols.push(symbol);
    const n = 20_000;
    const bad = 12_345;
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    // Minute bars (20,000 hourly ones would run into the future).
    const minuteBar = (i: number) => bar(symbol, 0, 100 + (i % 50), { interval: '1m', eventTime: BAR_T0 + i * 60_000, ingestTime: BAR_T0 + i * 60_000 + 500 });
    await publisher.send(topic, Array.from({ length: n }, (_, i) => minuteBar(i)), { source: 'test' });
    await publisher.disconnect();
    // A store rule the record breaks (valid for our own rules): PostgreSQL rejects that one row as data (SQLSTATE 22023).
    const rule = randomName('reject').replace(/-/g, '_');
    await pool.query(`CREATE FUNCTION ${rule}() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
      `BEGIN RAISE EXCEPTION 'bar rejected by a store rule' USING ERRCODE = '22023'; END $$`);
    await pool.query(`CREATE TRIGGER ${rule} BEFORE INSERT OR UPDATE ON price_data FOR EACH ROW ` +
      `WHEN (NEW.symbol = '${symbol}' AND NEW.ts = to_timestamp(${minuteBar(bad).eventTime} / 1000.0)) EXECUTE FUNCTION ${rule}()`);
    cleanup.push(async () => { await pool.query(`DROP TRIGGER IF EXISTS ${rule} ON price_data`); await pool.query(`DROP FUNCTION IF EXISTS ${rule}()`); });

    let handed = 0;
    const sinks: RunningSinks = await startSinks({
      config, logger, names: ['postgres'], topics: { prices: topic }, hooks: { onWritten: (e) => { if (e.topic === topic.name) handed += e.records; } },
    });
    cleanup.push(() => sinks.stop());
    await waitFor(async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count) === n - 1,
      { what: `the ${n - 1} good bars`, timeoutMs: 120_000 });
    await waitFor(async () => (await groupLag(kafka, groupIdOf(config, 'postgres'), [topic.name])).every((p) => p.lag === 0),
      { what: 'lag 0', timeoutMs: 60_000 });
    const dead = await readTopic(kafka, topic.dlq);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers['error-class']?.toString()).toBe('ValidationError');
    // And it is the record the store rejected: its key, its place in the topic (one partition, sent in order), its bar.
    const headers = headersToStrings(dead[0]!.headers);
    expect(dead[0]!.key?.toString()).toBe(symbol);
    expect(headers).toMatchObject({ 'original-topic': topic.name, 'original-partition': '0', 'original-offset': String(bad) });
    expect(headers['error-message']).toContain('bar rejected by a store rule');
    const { value } = await createSerde(config).decode(topic, dead[0]!.value!);
    expect(value).toEqual(minuteBar(bad));
    expect(handed, 'every record handed over exactly once: no batch fetched again').toBe(n);
  });
});
