// Lag in seconds against the real Kafka: a group whose oldest unconsumed record is N seconds old (its Kafka timestamp,
// read at the committed offset) reports about N s on /metrics (the observability of a process running the group),
// in `inspect groups` (API, text and JSON) and in `doctor` (warning over LAG_WARN_SECONDS); a caught-up group 0; a
// group that never committed lags from the earliest record. Records carry explicit Kafka timestamps in the past.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import type { Sink } from '../../consumers/types.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createRecordPeek, groupConsumer, type RecordPeek } from '../../lib/records.ts';
import { createSerde } from '../../lib/serde.ts';
import { checkKafka } from '../../ops/doctor/kafka.ts';
import { inspectGroups } from '../../ops/inspect/groups.ts';
import { createTestTopic, deleteTestTopics, randomName, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { sample, scrape } from '../helpers/metrics.ts';

const exec = promisify(execFile);
const prefix = randomName('test-lagsec');
const topicName = randomName('test-lagsec');
const env = { KAFKA_GROUP_PREFIX: prefix, PRICE_UPDATES_TOPIC: topicName, LAG_WARN_SECONDS: '60' };
const config = { ...testConfig(env), METRICS_PORT: 0, METRICS_HOST: '127.0.0.1', LAG_REFRESH_SECONDS: 0.3 };
const kafka = testKafka(config, 'lag-seconds');
const logger = testLogger('lag-seconds');
const SEC = 1000;

describe('lag in seconds', () => {
  let admin: Admin;
  let publisher: Publisher;
  let peek: RecordPeek;
  let obs: Observability | undefined;
  /** When the records were stamped: partition 0 at t0 − 300 s, − 200 s, − 100 s (offsets 0..2); partition 1 at t0 − 50 s. */
  let t0 = 0;
  // behind: committed 1 on partition 0 (its oldest unconsumed record is 200 s old) and caught up on 1.
  const behind = groupIdOf(config, 'postgres');
  const caughtUp = randomName(`${prefix}.caught-up`);
  const never = randomName(`${prefix}.never`);
  const topic = topicName;
  /** Seconds since t0: what a measured lag may exceed its record's age by. */
  const since = () => (Date.now() - t0) / SEC;
  const near = (got: number | null | undefined, age: number) => {
    expect(got).toBeGreaterThanOrEqual(age - 1); // timestamps are ms; the broker keeps them exactly
    expect(got).toBeLessThanOrEqual(age + since() + 1);
  };

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await createTestTopic(kafka, { name: topic, partitions: 2 });
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    t0 = Date.now();
    const at = (ago: number) => String(t0 - ago * SEC);
    await publisher.sendRaw(topic, [300, 200, 100].map((ago, i) => ({ partition: 0, key: `a${i}`, value: Buffer.from(`v${i}`), timestamp: at(ago) })));
    await publisher.sendRaw(topic, [{ partition: 1, key: 'b0', value: Buffer.from('w0'), timestamp: at(50) }]);
    // Committed offsets of the never-consuming groups (admin.setOffsets: the group must be empty; it is, it never had a member).
    await Promise.all([
      admin.setOffsets({ groupId: behind, topic, partitions: [{ partition: 0, offset: '1' }, { partition: 1, offset: '1' }] }),
      admin.setOffsets({ groupId: caughtUp, topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '1' }] }),
    ]);
    peek = createRecordPeek(kafka);
  });

  afterAll(async () => {
    await obs?.close();
    await peek?.close();
    await publisher?.disconnect();
    await admin?.deleteGroups([behind, caughtUp]).catch(() => {});
    await deleteTestTopics(kafka, [topic]);
    await admin?.disconnect();
  });

  it('inspect groups: per partition the age of the record at the committed offset; 0 when caught up; from the earliest without a commit', async () => {
    const [b, c, n] = await inspectGroups(admin, config, { names: [behind, caughtUp, never], topics: [topic], peek });
    expect(b?.partitions.map((p) => [p.partition, p.lag])).toEqual([[0, 2], [1, 0]]);
    near(b?.partitions[0]?.lagSeconds, 200);
    expect(b?.partitions[0]?.oldestAt).toBe(t0 - 200 * SEC);
    expect(b?.partitions[1]?.lagSeconds).toBe(0);
    near(b?.lagSeconds, 200);
    expect(c?.partitions.map((p) => p.lagSeconds)).toEqual([0, 0]);
    expect(c?.lagSeconds).toBe(0);
    near(n?.partitions[0]?.lagSeconds, 300);
    near(n?.partitions[1]?.lagSeconds, 50);
    near(n?.lagSeconds, 300);
  });

  it('inspect groups through the CLI: a lag-seconds column, the group\'s lag in seconds in its header, and in --json', async () => {
    const cli = async (...args: string[]) => (await exec(process.execPath, ['bin/marketstream.js', 'inspect', 'groups', ...args],
      { env: { ...process.env, ...env, LOG_LEVEL: 'error' } })).stdout;
    const text = await cli(behind, caughtUp, '--topic', topic);
    const header = new RegExp(`^${behind}  Empty  0 member\\(s\\)  lag 2 \\((\\d+) s\\)$`, 'm').exec(text);
    expect(header, text).not.toBeNull();
    near(Number(header![1]), 200);
    expect(text).toMatch(/^ {2}topic +partition +committed +latest +lag +lag s +member$/m);
    expect(text).toMatch(new RegExp(`^ {2}${topic} +0 +1 +3 +2 +2\\d\\d +-$`, 'm'));
    expect(text).toMatch(new RegExp(`^ {2}${topic} +1 +1 +1 +0 +0 +-$`, 'm'));
    expect(text).toContain(`${caughtUp}  Empty  0 member(s)  lag 0 (0 s)`);
    const [json] = JSON.parse(await cli(behind, '--topic', topic, '--json')) as Array<{ lagSeconds: number; partitions: Array<{ lagSeconds: number }> }>;
    near(json?.lagSeconds, 200);
    near(json?.partitions[0]?.lagSeconds, 200);
  });

  it('/metrics of a process running the groups: marketstream_consumer_lag_seconds per partition, and /health per group', async () => {
    obs = await startObservability({ config, logger, command: 'test lag seconds', metrics: createMetrics({ defaultMetrics: false }) });
    // The members the runner would register at start (not connected: the groups keep their offsets).
    const sink: Sink = { name: 'postgres-sink', handlers: [], connect: async () => {}, ping: async () => {}, close: async () => {} };
    for (const groupId of [behind, caughtUp]) obs.sinkHooks.onMember!({ sink, groupId, topics: [topic], consumer: groupConsumer(kafka, { groupId }) });
    const text = await waitFor(async () => {
      const t = await scrape(obs!.url);
      return sample(t, 'marketstream_consumer_lag_seconds', { group: caughtUp, topic, partition: '1' }) === 0 ? t : null;
    }, { what: 'lag in seconds on /metrics' });
    near(sample(text, 'marketstream_consumer_lag_seconds', { group: behind, topic, partition: '0' }), 200);
    expect(sample(text, 'marketstream_consumer_lag_seconds', { group: behind, topic, partition: '1' })).toBe(0);
    expect(sample(text, 'marketstream_consumer_lag_seconds', { group: caughtUp, topic, partition: '0' })).toBe(0);
    expect(sample(text, 'marketstream_consumer_lag_records', { group: behind, topic, partition: '0' })).toBe(2);
    const health = await (await fetch(`${obs.url}/health`)).json() as { groups: Record<string, { lagSeconds: number }> };
    near(health.groups[behind]?.lagSeconds, 200);
    expect(health.groups[caughtUp]?.lagSeconds).toBe(0);
  });

  it('doctor: the group of a sink behind by more than LAG_WARN_SECONDS warns, with its lag in seconds', async () => {
    const { groups } = await checkKafka(config, { timeoutMs: 5000 });
    const postgres = groups.find((g) => g.id === 'group.postgres');
    expect(postgres).toMatchObject({ status: 'warn', summary: expect.stringMatching(new RegExp(`^${behind}: Empty, 0 members, lag 2 \\(\\d+ s behind\\)$`)) });
    near((postgres?.data as { lagSeconds: number }).lagSeconds, 200);
    expect(groups.find((g) => g.id === 'group.redis')).toMatchObject({ status: 'ok', summary: expect.stringContaining('never committed') });
  });
});
