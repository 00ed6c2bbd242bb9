// The group monitor without a broker: what /ready and /health read from the runners' hooks (membership from the
// consumers' instrumentation events, batches written, dead letters, retries). The members' consumers are stand-ins
// that emit kafkajs's own event names with kafkajs's payload shapes; nothing here talks to Kafka. Lag, stalls and
// refresh() against the broker are in group-monitor.int.test.ts. Time is vitest's fake clock (the monitor's default
// `now` is Date.now).
import { EventEmitter } from 'node:events';
import kafkajs, { type Consumer } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createGroupMonitor, type GroupMonitor } from '../../consumers/group-monitor.ts';
import type { RunnerHooks } from '../../consumers/runner.ts';
import type { Sink } from '../../consumers/types.ts';
import { TransientError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics, type Metrics } from '../../lib/metrics.ts';
import { groupConsumer } from '../../lib/records.ts';
import { testConfig } from '../helpers/config.ts';
import { sample } from '../helpers/metrics.ts';

const { Kafka, KafkaJSError, logLevel } = kafkajs;

/** The real event names of a kafkajs consumer (an unconnected client: no I/O). */
const EVENTS = groupConsumer(new Kafka({ brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING }), { groupId: 'unused' }).events;

const T0 = Date.parse('2026-03-02T14:30:00.000Z');
const GROUP = 'marketstream.postgres-sink';
const TOPIC = 'price-updates';

/** A member's consumer as far as the monitor sees it: `events` and `on`, and a way to emit what kafkajs would. */
function standInConsumer() {
  const emitter = new EventEmitter();
  const consumer = {
    events: EVENTS,
    on: (type: string, listener: (e: unknown) => void) => { emitter.on(type, listener); return () => emitter.off(type, listener); },
  } as unknown as Consumer;
  const emit = (type: string, payload: unknown) => emitter.emit(type, { id: 1, type, timestamp: Date.now(), payload });
  return {
    consumer,
    join: (memberAssignment: Record<string, number[]>) => emit(EVENTS.GROUP_JOIN, {
      groupId: GROUP, memberId: 'm-1', leaderId: 'm-1', isLeader: true, memberAssignment, groupProtocol: 'RoundRobinAssigner', duration: 12,
    }),
    rebalancing: () => emit(EVENTS.REBALANCING, { groupId: GROUP, memberId: 'm-1' }),
    /** As kafkajs does it (src/consumer/index.js, onCrash): disconnect() — which stops the runner and emits STOP — then CRASH. */
    crash: (error: Error, restart: boolean) => { emit(EVENTS.STOP, null); emit(EVENTS.CRASH, { error, groupId: GROUP, restart }); },
    /** consumer.stop() / disconnect(). */
    stop: () => emit(EVENTS.STOP, null),
  };
}

function sink(name: string): Sink {
  return { name, handlers: [], connect: async () => {}, ping: async () => {}, close: async () => {} };
}


describe('group monitor (hooks, no broker)', () => {
  let metrics: Metrics;
  let monitor: GroupMonitor;
  let hooks: RunnerHooks;
  let adminCalls: number;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
    adminCalls = 0;
    metrics = createMetrics({ defaultMetrics: false });
    monitor = createGroupMonitor({
      // Unit tests never reach the broker: an admin that is asked for fails loudly.
      admin: async () => { adminCalls++; throw new Error('no broker in unit tests'); },
      config: testConfig({ STALL_SECONDS: '120' }),
      logger: createLogger({ level: 'silent' }),
      metrics,
    });
    hooks = monitor.hooks;
  });

  afterEach(async () => {
    await monitor.stop();
    vi.useRealTimers();
  });

  function addMember(name = 'postgres-sink', groupId = GROUP, topics: string[] = [TOPIC]) {
    const c = standInConsumer();
    hooks.onMember!({ sink: sink(name), groupId, topics, consumer: c.consumer });
    return c;
  }

  it('knows no groups before any member starts: ready, empty report', () => {
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()).toEqual({});
    expect(monitor.sinks()).toEqual([]);
  });

  it('a member that started but has not joined its group makes the process not ready', () => {
    addMember();
    expect(monitor.notReady()).toEqual([`${GROUP}: a member is connecting to its store and joining its group`]);
    expect(monitor.groups()[GROUP]).toEqual({
      members: [{ state: 'starting', partitions: 0 }],
      lag: null, ownLag: null, lagSeconds: null, partitions: [], freshness: [],
      lastWriteAt: null, lastProgressAt: new Date(T0).toISOString(), stalled: false,
    });
  });

  it('a member that joined is ready, with the partitions it was assigned', () => {
    const c = addMember();
    c.join({ [TOPIC]: [0, 2, 4], 'market-events': [1] });
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'joined', partitions: 4 }]);
  });

  it('a member with no partitions (more members than partitions) is still ready', () => {
    const c = addMember();
    c.join({});
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'joined', partitions: 0 }]);
  });

  it('every member must have joined: one joined and one starting is not ready', () => {
    const a = addMember();
    addMember();
    a.join({ [TOPIC]: [0, 1, 2] });
    expect(monitor.notReady()).toEqual([`${GROUP}: a member is connecting to its store and joining its group`]);
    expect(monitor.groups()[GROUP]!.members.map((m) => m.state)).toEqual(['joined', 'starting']);
  });

  it('a rebalancing member is not ready until it joins again, then has its new assignment', () => {
    const c = addMember();
    c.join({ [TOPIC]: [0, 1, 2, 3, 4, 5] });
    c.rebalancing();
    expect(monitor.notReady()).toEqual([`${GROUP}: a member is rebalancing`]);
    c.join({ [TOPIC]: [3, 4, 5] });
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'joined', partitions: 3 }]);
  });

  // The two crash cases below fail: kafkajs emits STOP before CRASH, and the monitor forgets a member on STOP, so the
  // crashed member vanishes from the report and the process answers ready (confirmed against the broker in
  // group-monitor.int.test.ts). They pin what /ready and /health should say.
  it('a crashed member is not ready; the report and the reasons say why; the crash is counted as an error', async () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    c.crash(new KafkaJSError('Broker not connected'), false);
    const reason = `${GROUP}: a member is crashed (KafkaJSError: Broker not connected)`;
    expect(monitor.notReady()).toEqual([reason]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'crashed', partitions: 1, detail: 'KafkaJSError: Broker not connected' }]);
    expect(sample(await metrics.scrape(), 'marketstream_errors_total', { component: 'postgres-sink', kind: 'KafkaJSError' })).toBe(1);
  });

  it('a crash that kafkajs restarts from says so, and the member is ready again once it rejoins', () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    c.crash(new KafkaJSError('The coordinator is not aware of this member'), true);
    expect(monitor.notReady()).toEqual([`${GROUP}: a member is crashed (KafkaJSError: The coordinator is not aware of this member (restarting))`]);
    c.join({ [TOPIC]: [0] });
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'joined', partitions: 1 }]); // detail cleared
  });

  it('a stopped member leaves the report and no longer blocks readiness; the group stays known', () => {
    const a = addMember();
    const b = addMember();
    a.join({ [TOPIC]: [0] });
    expect(monitor.notReady()).toHaveLength(1);
    b.stop();
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.members).toEqual([{ state: 'joined', partitions: 1 }]);
    a.stop();
    expect(monitor.groups()[GROUP]!.members).toEqual([]);
  });

  it('reports each group apart and gives one sink per group', () => {
    const pg = addMember('postgres-sink', 'marketstream.postgres-sink', ['price-updates']);
    addMember('redis-sink', 'marketstream.redis-sink', ['price-updates']);
    addMember('postgres-sink', 'marketstream.postgres-sink', ['market-events']); // a second member of the same group
    pg.join({ 'price-updates': [0, 1] });
    expect(Object.keys(monitor.groups()).sort()).toEqual(['marketstream.postgres-sink', 'marketstream.redis-sink']);
    expect(monitor.groups()['marketstream.postgres-sink']!.members.map((m) => m.state)).toEqual(['joined', 'starting']);
    expect(monitor.sinks().map((s) => s.name).sort()).toEqual(['postgres-sink', 'redis-sink']);
    expect(monitor.notReady().sort()).toEqual([
      'marketstream.postgres-sink: a member is connecting to its store and joining its group',
      'marketstream.redis-sink: a member is connecting to its store and joining its group',
    ]);
  });

  it('onWritten records the batch in the metrics and sets the last write and progress times', async () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    vi.setSystemTime(T0 + 5000);
    hooks.onWritten!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, partition: 0, records: 5, timestamps: [T0 + 1000, T0 + 2000, T0 + 3000],
      receivedAt: T0 + 4000, writtenAt: T0 + 4500, writeMs: 250, stale: 2 });
    const g = monitor.groups()[GROUP]!;
    expect(g.lastWriteAt).toBe(new Date(T0 + 4500).toISOString());
    expect(g.lastProgressAt).toBe(new Date(T0 + 4500).toISOString());
    const text = await metrics.scrape();
    expect(sample(text, 'marketstream_records_consumed_total', { topic: TOPIC, group: GROUP })).toBe(5);
    expect(sample(text, 'marketstream_sink_batch_records_sum', { sink: 'postgres-sink', topic: TOPIC })).toBe(3);
    expect(sample(text, 'marketstream_sink_write_duration_seconds_sum', { sink: 'postgres-sink', topic: TOPIC })).toBeCloseTo(0.25);
    expect(sample(text, 'marketstream_end_to_end_latency_seconds_count', { sink: 'postgres-sink', topic: TOPIC })).toBe(3);
    expect(sample(text, 'marketstream_sink_last_write_timestamp_seconds', { sink: 'postgres-sink' })).toBe((T0 + 4500) / 1000);
    expect(sample(text, 'marketstream_stale_writes_refused_total', { sink: 'postgres-sink', topic: TOPIC })).toBe(2);
  });

  it('a batch that was all dead-lettered is progress but not a write', async () => {
    addMember();
    hooks.onWritten!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, partition: 0, records: 2, timestamps: [T0], receivedAt: T0 + 10,
      writtenAt: T0 + 20, writeMs: 5 });
    hooks.onWritten!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, partition: 0, records: 4, timestamps: [], receivedAt: T0 + 60_000,
      writtenAt: T0 + 60_100, writeMs: 0 });
    const g = monitor.groups()[GROUP]!;
    expect(g.lastWriteAt).toBe(new Date(T0 + 20).toISOString());
    expect(g.lastProgressAt).toBe(new Date(T0 + 60_100).toISOString());
    const text = await metrics.scrape();
    expect(sample(text, 'marketstream_records_consumed_total', { topic: TOPIC, group: GROUP })).toBe(6);
    expect(sample(text, 'marketstream_sink_batch_records_count', { sink: 'postgres-sink', topic: TOPIC })).toBe(1);
  });

  it('onDeadLetter counts dead letters per topic and reason', async () => {
    addMember();
    hooks.onDeadLetter!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, reason: 'ValidationError' });
    hooks.onDeadLetter!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, reason: 'ValidationError' });
    hooks.onDeadLetter!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, reason: 'DecodeError' });
    const text = await metrics.scrape();
    expect(sample(text, 'marketstream_dlq_records_total', { topic: TOPIC, reason: 'ValidationError' })).toBe(2);
    expect(sample(text, 'marketstream_dlq_records_total', { topic: TOPIC, reason: 'DecodeError' })).toBe(1);
    expect(monitor.notReady()).toEqual([`${GROUP}: a member is connecting to its store and joining its group`]); // unchanged
  });

  it('onRetry counts the error by sink and class and reports the last retry error; a retry alone does not make it not ready', async () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    hooks.onRetry!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, error: new TransientError('PostgreSQL unavailable: ECONNREFUSED'), attempt: 1 });
    hooks.onRetry!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC,
      error: new TransientError('PostgreSQL unavailable (57P01): terminating connection'), attempt: 2 });
    expect(monitor.groups()[GROUP]!.lastRetryError).toBe('TransientError: PostgreSQL unavailable (57P01): terminating connection');
    expect(sample(await metrics.scrape(), 'marketstream_errors_total', { component: 'postgres-sink', kind: 'TransientError' })).toBe(2);
    expect(monitor.notReady()).toEqual([]);
  });

  it('hooks for a group it does not know still count in the metrics and change no report', async () => {
    hooks.onWritten!({ sink: 'redis-sink', groupId: 'other', topic: TOPIC, partition: 0, records: 1, timestamps: [T0], receivedAt: T0,
      writtenAt: T0, writeMs: 1 });
    hooks.onRetry!({ sink: 'redis-sink', groupId: 'other', topic: TOPIC, error: new Error('boom'), attempt: 1 });
    expect(monitor.groups()).toEqual({});
    const text = await metrics.scrape();
    expect(sample(text, 'marketstream_records_consumed_total', { topic: TOPIC, group: 'other' })).toBe(1);
    expect(sample(text, 'marketstream_errors_total', { component: 'redis-sink', kind: 'Error' })).toBe(1);
  });

  it('a new member sets the group stalled gauge to 0', async () => {
    addMember();
    expect(sample(await metrics.scrape(), 'marketstream_consumer_group_stalled', { group: GROUP })).toBe(0);
  });

  it('without a lag reading, no amount of idle time makes a group stalled', () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    vi.setSystemTime(T0 + 24 * 3600_000);
    hooks.onWritten!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, partition: 0, records: 0, timestamps: [], receivedAt: T0,
      writtenAt: T0, writeMs: 0 });
    expect(monitor.notReady()).toEqual([]);
    expect(monitor.groups()[GROUP]!.stalled).toBe(false);
  });

  it('refresh() with no group does not ask for the admin client', async () => {
    await monitor.refresh();
    expect(adminCalls).toBe(0);
  });

  it('refresh() resolves when the admin client cannot be had, and leaves the report as it was', async () => {
    const c = addMember();
    c.join({ [TOPIC]: [0] });
    const before = monitor.groups();
    await expect(monitor.refresh()).resolves.toBeUndefined();
    expect(adminCalls).toBe(1);
    expect(monitor.groups()).toEqual(before);
    expect(monitor.notReady()).toEqual([]);
  });

  it('concurrent refresh() calls share one pass', async () => {
    addMember();
    await Promise.all([monitor.refresh(), monitor.refresh(), monitor.refresh()]);
    expect(adminCalls).toBe(1);
    await monitor.refresh();
    expect(adminCalls).toBe(2);
  });

  describe('freshness (the newest bar per series the sink wrote; the clock pretends a Tuesday or a Saturday)', () => {
    // 2026-03-03 is a Tuesday: 11:00 in New York (EST) is 16:00 UTC; 2026-03-07 is a Saturday.
    const TUESDAY_11 = Date.parse('2026-03-03T16:00:00.000Z');
    const SATURDAY = Date.parse('2026-03-07T17:00:00.000Z');
    const MIN = 60_000;
    const written = (partition: number, bars: Array<{ symbol: string; interval: '1m' | '1h' | '1d'; eventTime: number; source?: string }>) =>
      hooks.onWritten!({ sink: 'postgres-sink', groupId: GROUP, topic: TOPIC, partition, records: bars.length, timestamps: bars.map(() => Date.now()),
        receivedAt: Date.now(), writtenAt: Date.now(), writeMs: 1, bars: bars.map((b) => ({ source: 'synthetic', ...b })) });

    it('in a session, a series of SYMBOLS late beyond its limit makes the process not ready, with the reason; the age is on /metrics', async () => {
      vi.setSystemTime(TUESDAY_11);
      addMember().join({ [TOPIC]: [0, 1] });
      written(0, [{ symbol: 'AAPL', interval: '1m', eventTime: TUESDAY_11 - 12 * MIN }, { symbol: 'AAPL', interval: '1m', eventTime: TUESDAY_11 - 10 * MIN }]);
      written(1, [{ symbol: 'MSFT', interval: '1m', eventTime: TUESDAY_11 - MIN }]); // the newest complete bar: fresh
      written(1, [{ symbol: 'MSFT', interval: '1m', eventTime: TUESDAY_11 - 30 * MIN }]); // older: changes nothing
      expect(monitor.notReady()).toEqual([
        `${GROUP}: AAPL 1m is 8 min late in postgres (newest bar 2026-03-03T15:50:00.000Z, ended 9 min ago; limit 5 min while the us market is open)`,
      ]);
      expect(monitor.groups()[GROUP]!.freshness).toEqual([
        { symbol: 'AAPL', interval: '1m', source: 'synthetic', newestBar: '2026-03-03T15:50:00.000Z', endsAt: TUESDAY_11 - 9 * MIN, ageSeconds: 540,
          lateSeconds: 480, limitSeconds: 300, late: true, judged: true },
        { symbol: 'MSFT', interval: '1m', source: 'synthetic', newestBar: '2026-03-03T15:59:00.000Z', endsAt: TUESDAY_11, ageSeconds: 0,
          lateSeconds: 0, limitSeconds: 300, late: false, judged: true },
      ]);
      const text = await metrics.scrape();
      expect(sample(text, 'marketstream_data_age_seconds', { store: 'postgres', symbol: 'AAPL', interval: '1m' })).toBe(540);
      expect(sample(text, 'marketstream_data_age_seconds', { store: 'postgres', symbol: 'MSFT', interval: '1m' })).toBe(0);
      // The next scrape sees the age grown, without any write.
      vi.setSystemTime(TUESDAY_11 + 30_000);
      expect(sample(await metrics.scrape(), 'marketstream_data_age_seconds', { store: 'postgres', symbol: 'AAPL', interval: '1m' })).toBe(570);

      // A fresh AAPL bar arrives: ready again.
      written(0, [{ symbol: 'AAPL', interval: '1m', eventTime: TUESDAY_11 - MIN }]);
      expect(monitor.notReady()).toEqual([]);
    });

    it('on a Saturday nothing is late enough to be an alarm, however old the data', () => {
      vi.setSystemTime(SATURDAY);
      addMember().join({ [TOPIC]: [0] });
      written(0, [{ symbol: 'AAPL', interval: '1m', eventTime: TUESDAY_11 - 10 * MIN }]);
      expect(monitor.notReady()).toEqual([]);
      expect(monitor.groups()[GROUP]!.freshness[0]).toMatchObject({ symbol: 'AAPL', late: true, judged: true }); // reported, not an alarm
    });

    it('symbols outside SYMBOLS and backfilled or replayed series are reported but never make the process not ready', () => {
      vi.setSystemTime(TUESDAY_11);
      addMember().join({ [TOPIC]: [0] });
      written(0, [{ symbol: 'ZZZZ', interval: '1m', eventTime: TUESDAY_11 - 60 * MIN },
        { symbol: 'AAPL', interval: '1d', eventTime: Date.parse('2026-02-02T00:00:00Z'), source: 'backfill' },
        { symbol: 'MSFT', interval: '1h', eventTime: Date.parse('2026-03-02T14:30:00Z'), source: 'file' }]);
      expect(monitor.notReady()).toEqual([]);
      expect(monitor.groups()[GROUP]!.freshness.map((f) => [f.symbol, f.late, f.judged])).toEqual([['AAPL', true, false], ['MSFT', true, false],
        ['ZZZZ', true, false]]);
    });

    it('a partition that moved to another process takes its series along; a stopped member\'s too', async () => {
      vi.setSystemTime(TUESDAY_11);
      const c = addMember();
      c.join({ [TOPIC]: [0, 1] });
      written(0, [{ symbol: 'AAPL', interval: '1m', eventTime: TUESDAY_11 - 20 * MIN }]);
      written(1, [{ symbol: 'MSFT', interval: '1m', eventTime: TUESDAY_11 - 20 * MIN }]);
      expect(monitor.notReady()).toHaveLength(2);
      c.join({ [TOPIC]: [1] });
      expect(monitor.notReady()).toEqual([expect.stringContaining('MSFT 1m is')]);
      expect(monitor.groups()[GROUP]!.freshness.map((f) => f.symbol)).toEqual(['MSFT']);
      c.stop();
      expect(monitor.notReady()).toEqual([]);
      expect(sample(await metrics.scrape(), 'marketstream_data_age_seconds', { store: 'postgres', symbol: 'MSFT', interval: '1m' })).toBeUndefined();
    });
  });
});
