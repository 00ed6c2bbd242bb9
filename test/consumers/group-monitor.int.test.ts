// The group monitor against the real broker: refresh() reads each group's lag through a kafkajs Admin; the lag of the
// partitions this process's joined members own decides stalls (lag > 0 and no progress for STALL_SECONDS → not ready,
// logged with the likely cause) until a batch is written or the committed offsets move. Members are real kafkajs
// consumers joining real groups (autoCommit off, so only the test moves the offsets); the monitor's clock is injected,
// so STALL_SECONDS passes without sleeping.
import kafkajs, { type Admin, type Consumer, type ConsumerConfig, type EachMessageHandler } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGroupMonitor, type GroupMonitor } from '../../consumers/group-monitor.ts';
import type { Sink } from '../../consumers/types.ts';
import { TransientError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics, type Metrics } from '../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { groupConsumer } from '../../lib/records.ts';
import { createSerde } from '../../lib/serde.ts';
import { createTestTopic, deleteTestTopics, randomName, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { sample } from '../helpers/metrics.ts';

const { Kafka, logLevel } = kafkajs;
const STALL_SECONDS = 60;
const STALL_MS = STALL_SECONDS * 1000;
const config = testConfig({ STALL_SECONDS: String(STALL_SECONDS) });
const iso = (ms: number) => new Date(ms).toISOString();


const sink: Sink = { name: 'postgres-sink', handlers: [], connect: async () => {}, ping: async () => {}, close: async () => {} };

describe('group monitor against the broker', () => {
  const kafka = testKafka(config);
  const admin: Admin = kafka.admin();
  let publisher: Publisher;
  let topic: string;
  // Per test: the group, the members started, the monitor's clock, log lines and metrics.
  let groupId: string;
  let consumers: Consumer[] = [];
  let clock: number;
  let lines: Array<{ level: number; msg: string; [k: string]: unknown }>;
  let metrics: Metrics;
  let monitor: GroupMonitor;
  // Groups with p0 committed at 1 (lag 4 of 5) and p1 never committed (lag 2 of 2), one per test. admin.setOffsets takes
  // a few seconds (it runs a consumer until its first fetch), so they are all prepared at once.
  const GROUPS = 7;
  const prepared: string[] = Array.from({ length: GROUPS }, () => randomName('test-group-monitor'));
  const used: string[] = [];

  beforeAll(async () => {
    await admin.connect();
    // Two partitions: 5 records on 0, 2 on 1.
    topic = await createTestTopic(kafka, { partitions: 2 });
    publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('group-monitor-test') });
    await publisher.connect();
    await publisher.sendRaw(topic, [0, 1, 2, 3, 4].map((i) => ({ partition: 0, key: `a${i}`, value: Buffer.from(`v${i}`) })));
    await publisher.sendRaw(topic, [0, 1].map((i) => ({ partition: 1, key: `b${i}`, value: Buffer.from(`v${i}`) })));
    await Promise.all(prepared.map((g) => admin.setOffsets({ groupId: g, topic, partitions: [{ partition: 0, offset: '1' }] })));
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await admin.deleteGroups([...prepared, ...used]).catch(() => {});
    await deleteTestTopics(kafka, topic ? [topic] : []);
    await admin.disconnect();
  });

  function newMonitor(adminClient: () => Promise<Admin> = async () => admin) {
    const next = prepared.shift();
    if (!next) throw new Error(`only ${GROUPS} groups are prepared: raise GROUPS`);
    groupId = next;
    used.push(groupId);
    clock = Date.parse('2026-03-02T14:30:00.000Z');
    lines = [];
    metrics = createMetrics({ defaultMetrics: false });
    const destination = { write: (s: string) => { lines.push(JSON.parse(s)); return true; } } as unknown as NodeJS.WritableStream;
    monitor = createGroupMonitor({ admin: adminClient, config, logger: createLogger({ level: 'debug', format: 'json', destination }),
      metrics, now: () => clock });
    return monitor;
  }

  afterEach(async () => {
    await monitor?.stop();
    await Promise.all(consumers.splice(0).map((c) => c.disconnect().catch(() => {})));
  });

  /** A real member of the group; registered with the monitor (like the runner does at start()) unless `register` is false. */
  function member(opts: { register?: boolean; consumer?: Partial<ConsumerConfig> } = {}) {
    const consumer = groupConsumer(kafka, { groupId, sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 500, ...opts.consumer });
    consumers.push(consumer);
    const joins: Array<Record<string, number[]>> = [];
    consumer.on(consumer.events.GROUP_JOIN, (e) => { joins.push(e.payload.memberAssignment); });
    if (opts.register ?? true) monitor.hooks.onMember!({ sink, groupId, topics: [topic], consumer });
    const start = async (eachMessage: EachMessageHandler = async () => {}) => {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ autoCommit: false, eachMessage });
    };
    return { consumer, joins, start, owned: () => joins.at(-1)?.[topic] ?? [] };
  }

  const report = () => monitor.groups()[groupId]!;
  const warnings = () => lines.filter((l) => l.level === 40).map((l) => l.msg);

  it('refresh() reads the lag of every partition; with no member joined yet, ownLag covers them all; lag gauges are set', async () => {
    newMonitor();
    member(); // started (registered), not connected: never joins
    await monitor.refresh();

    const g = report();
    expect(g.partitions.sort((a, b) => a.partition - b.partition)).toEqual([
      { topic, partition: 0, committed: 1, latest: 5, lag: 4, lagSeconds: null }, // in seconds: unknown without a peek (test/cli/lag-seconds.int.test.ts)
      { topic, partition: 1, committed: null, latest: 2, lag: 2, lagSeconds: null },
    ]);
    expect(g.lag).toBe(6);
    expect(g.ownLag).toBe(6);
    expect(g.lagError).toBeUndefined();
    expect(g.stalled).toBe(false);
    const text = await metrics.scrape();
    expect(sample(text, 'marketstream_consumer_lag_records', { group: groupId, topic, partition: '0' })).toBe(4);
    expect(sample(text, 'marketstream_consumer_lag_records', { group: groupId, topic, partition: '1' })).toBe(2);
    expect(monitor.notReady()).toEqual([`${groupId}: a member is connecting to its store and joining its group`]);
  });

  it('ownLag counts only the partitions this process\'s joined members own, and follows the assignment', async () => {
    newMonitor();
    const a = member();
    await a.start();
    await waitFor(() => report().members[0]?.state === 'joined' && report().members[0]?.partitions === 2,
      { what: 'A owning both partitions', timeoutMs: 60_000 });

    // Another process's member (not registered here) joins: each owns one partition.
    const b = member({ register: false });
    await b.start();
    await waitFor(() => b.owned().length === 1 && a.owned().length === 1 && report().members[0]?.state === 'joined' && report().members[0]?.partitions === 1,
      { what: 'A and B owning a partition each', timeoutMs: 60_000 });
    expect(monitor.notReady()).toEqual([]);

    await monitor.refresh();
    const lagOf = (p: number) => report().partitions.find((x) => x.partition === p)!.lag;
    const [mine] = a.owned();
    expect(report().lag).toBe(6);
    expect(report().ownLag).toBe(lagOf(mine!));
    expect(report().ownLag).toBe(mine === 0 ? 4 : 2);

    // B leaves: A owns both again, and so its own lag is the whole group's.
    await b.consumer.disconnect();
    await waitFor(() => report().members[0]?.state === 'joined' && report().members[0]?.partitions === 2,
      { what: 'A owning both partitions again', timeoutMs: 60_000 });
    await monitor.refresh();
    expect(report().ownLag).toBe(6);

    // A stops: it leaves the report; with no joined member, ownLag is every partition's.
    await a.consumer.disconnect();
    expect(report().members).toEqual([]);
    await monitor.refresh();
    expect(report().ownLag).toBe(6);
  });

  // kafkajs handles a crash by disconnecting the consumer (which emits STOP) and only then emits CRASH
  // (kafkajs/src/consumer/index.js, onCrash). The monitor forgets a member on STOP, so the CRASH that follows lands on a
  // member it no longer reports: the process answers ready with a crashed member. This pins the intended behaviour.
  it('a member that crashes (as kafkajs reports it) makes the process not ready and is reported as crashed', async () => {
    newMonitor();
    const a = member({ consumer: { retry: { retries: 0, restartOnFailure: async () => false } } });
    let crashed = false;
    a.consumer.on(a.consumer.events.CRASH, () => { crashed = true; });
    await a.start(async () => { throw new TransientError('store down'); });
    await waitFor(() => crashed, { what: 'the consumer to crash', timeoutMs: 60_000 });
    expect(monitor.notReady()).toEqual([expect.stringMatching(new RegExp(`^${groupId}: a member is crashed \\(.+\\)$`))]);
    expect(report().members).toEqual([{ state: 'crashed', partitions: 2, detail: expect.any(String) }]);
  });

  /** A fresh monitor and one member that joined with both partitions; the clock when it started. */
  async function monitoredMember() {
    newMonitor();
    const t0 = clock;
    const a = member();
    await a.start();
    await waitFor(() => report().members[0]?.state === 'joined' && report().members[0]?.partitions === 2, { what: 'member joined', timeoutMs: 60_000 });
    return { t0, a };
  }

  it('lag > 0 with no progress for STALL_SECONDS makes the process not ready and is logged with the cause; a written batch makes it ready again', async () => {
    const { t0 } = await monitoredMember();

    await monitor.refresh();
    expect(report().ownLag).toBe(6);
    expect(monitor.notReady()).toEqual([]);

    clock = t0 + STALL_MS - 1;
    await monitor.refresh();
    expect(report().stalled).toBe(false);
    expect(monitor.notReady()).toEqual([]);

    // The store keeps failing; the next refresh past STALL_SECONDS finds the group stalled and names the failure.
    monitor.hooks.onRetry!({ sink: sink.name, groupId, topic, error: new TransientError('PostgreSQL unavailable: ECONNREFUSED'), attempt: 7 });
    clock = t0 + STALL_MS;
    await monitor.refresh();
    expect(report().stalled).toBe(true);
    expect(report().lastRetryError).toBe('TransientError: PostgreSQL unavailable: ECONNREFUSED');
    expect(monitor.notReady()).toEqual([`${groupId}: stalled (lag 6, no progress since ${iso(t0)})`]);
    expect(sample(await metrics.scrape(), 'marketstream_consumer_group_stalled', { group: groupId })).toBe(1);
    expect(warnings()).toEqual([`consumer group ${groupId} stalled: lag 6 and no progress for ${STALL_SECONDS} s: store writes keep failing (TransientError: ` +
      `PostgreSQL unavailable: ECONNREFUSED); not ready until it moves`]);
    expect(lines.find((l) => l.level === 40)).toMatchObject({ group: groupId, lag: 6, noProgressSeconds: STALL_SECONDS,
      stallSeconds: STALL_SECONDS, members: ['joined'] });

    // Still stalled: logged once, not on every refresh.
    clock += 5000;
    await monitor.refresh();
    expect(report().stalled).toBe(true);
    expect(warnings()).toHaveLength(1);

    // A batch is written: ready again at once, without waiting for the next refresh.
    monitor.hooks.onWritten!({ sink: sink.name, groupId, topic, partition: 0, records: 1, timestamps: [clock - 100], receivedAt: clock - 50,
      writtenAt: clock, writeMs: 20 });
    expect(report().stalled).toBe(false);
    expect(monitor.notReady()).toEqual([]);
    expect(sample(await metrics.scrape(), 'marketstream_consumer_group_stalled', { group: groupId })).toBe(0);
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: `consumer group ${groupId} is progressing again` });
  });

  it('a stall ends when the committed offsets move; without a failing store the cause is "no batch completed"; a group without lag never stalls', async () => {
    const { t0, a } = await monitoredMember();
    await monitor.refresh();

    clock = t0 + STALL_MS;
    await monitor.refresh();
    expect(report().stalled).toBe(true);
    expect(warnings()).toEqual([expect.stringContaining(': no batch completed (slow store, stuck write or a member without partitions); ' +
      'not ready until it moves')]);

    // The member commits p1 (as after a batch): the next refresh sees the offsets move.
    await a.consumer.commitOffsets([{ topic, partition: 1, offset: '2' }]);
    clock += 1000;
    await monitor.refresh();
    expect(report().ownLag).toBe(4);
    expect(report().stalled).toBe(false);
    expect(report().lastProgressAt).toBe(iso(clock));
    expect(monitor.notReady()).toEqual([]);

    // Caught up: no lag, so however long nothing happens, it is not stalled.
    await a.consumer.commitOffsets([{ topic, partition: 0, offset: '5' }]);
    await monitor.refresh();
    expect(report().lag).toBe(0);
    clock += 10 * STALL_MS;
    await monitor.refresh();
    expect(report().stalled).toBe(false);
    expect(monitor.notReady()).toEqual([]);
  });

  it('a member that never joins: the stall names the members not consuming, and both reasons are given', async () => {
    newMonitor();
    const t0 = clock;
    member(); // registered, never started
    await monitor.refresh();
    clock = t0 + STALL_MS;
    await monitor.refresh();
    expect(monitor.notReady()).toEqual([
      `${groupId}: a member is connecting to its store and joining its group`,
      `${groupId}: stalled (lag 6, no progress since ${iso(t0)})`,
    ]);
    expect(warnings()).toEqual([expect.stringContaining(': members not consuming (starting); not ready until it moves')]);
  });

  it('a group whose lag cannot be read reports the error; the other groups are still read and refresh() resolves', async () => {
    // An admin that does not retry, so the missing topic fails fast.
    const quick = new Kafka({ clientId: randomName('test-client'), brokers: [...config.KAFKA_BROKERS], logLevel: logLevel.NOTHING,
      retry: { retries: 0 } }).admin();
    await quick.connect();
    try {
      newMonitor(async () => quick);
        const missingGroup = randomName('test-group-monitor-missing');
      const missingTopic = randomName('test-missing');
      monitor.hooks.onMember!({ sink, groupId: missingGroup, topics: [missingTopic], consumer: groupConsumer(kafka, { groupId: missingGroup }) });
      member();
      await expect(monitor.refresh()).resolves.toBeUndefined();
      const groups = monitor.groups();
      expect(groups[missingGroup]!.lagError).toEqual(expect.any(String));
      expect(groups[missingGroup]!.lag).toBeNull();
      expect(groups[groupId]!.lag).toBe(6);
      expect(groups[groupId]!.lagError).toBeUndefined();
    } finally {
      await quick.disconnect();
    }
  });
});
