// Replay against the real Kafka: a group's committed offsets move to earliest, to a time, or to partition:offset;
// a dry run changes nothing; a group with live members is refused and left untouched; the CLI prints before/after.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Publisher } from '../../lib/publisher.ts';
import { joinIdle } from '../../lib/records.ts';

import { publishReplayLog } from './replay-fixture.ts';
import { parseReplayTarget, replay } from '../../ops/replay.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { type TopicDef } from '../../topics/index.ts';
import { consumeMessages, deleteTestTopics, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { GroupActiveError } from '../../lib/errors.ts';

const run = promisify(execFile);
const config = testConfig({ TOPIC_PARTITIONS: '3' });
const logger = testLogger('replay-test');

describe('replay', () => {
  let kafka: Kafka;
  let admin: Admin;
  let publisher: Publisher;
  let topic: TopicDef<PriceUpdate>;
  let groupId: string;
  let firstBatch: PriceUpdate[];
  let secondBatch: PriceUpdate[];
  let between: number;

  const committed = async () => Object.fromEntries(((await admin.fetchOffsets({ groupId, topics: [topic.name] }))[0]?.partitions ?? [])
    .map((p) => [p.partition, Number(p.offset)]));
  const ends = async () => Object.fromEntries((await admin.fetchTopicOffsets(topic.name)).map((p) => [p.partition, Number(p.high)]));

  beforeAll(async () => {
    kafka = testKafka(config);
    admin = kafka.admin();
    await admin.connect();
    ({ topic, groupId, publisher, firstBatch, secondBatch, between } = await publishReplayLog(kafka, config, logger, { name: 'test-replay', pauseMs: 50 }));
    // The group reads everything and commits: it is at the end of every partition.
    await consumeMessages(kafka, topic.name, firstBatch.length + secondBatch.length, { groupId });
    await waitFor(async () => {
      const [c, e] = [await committed(), await ends()];
      return Object.entries(e).every(([p, end]) => (c[p] ?? -1) === end || (end === 0 && (c[p] ?? -1) < 0));
    }, { what: 'group committed at the end' });
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await admin?.deleteGroups([groupId]).catch(() => {});
    await admin?.disconnect();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('a dry run shows before/after per partition and changes nothing', async () => {
    const before = await committed();
    const r = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'earliest' }, dryRun: true });
    expect(r.applied).toBe(false);
    expect(r.changes.map((c) => [c.partition, c.before === null ? -1 : Number(c.before),
      Number(c.after)])).toEqual(Object.entries(before).map(([p, o]) => [Number(p), o, 0]));
    expect(r.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(firstBatch.length + secondBatch.length);
    expect(await committed()).toEqual(before);
  });

  it('rewinds to the first record at or after a time (Kafka record timestamp)', async () => {
    const r = await replay(kafka, { groupId, topics: [topic.name], target: parseReplayTarget(new Date(between).toISOString()) });
    expect(r.applied).toBe(true);
    // Exactly the second batch is left to read again, partition by partition.
    expect(r.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(secondBatch.length);
    const now = await committed();
    for (const c of r.changes) expect(now[c.partition]).toBe(Number(c.after));
  });

  it('moves one partition to an explicit offset and leaves the others', async () => {
    const before = await committed();
    const [p] = Object.entries(await ends()).find(([, end]) => end >= 2)!; // a partition holding records
    const r = await replay(kafka, { groupId, topics: [topic.name], target: parseReplayTarget(`${p}:2`) });
    expect(r.changes.map((c) => [c.partition, c.after])).toEqual([[Number(p), '2']]);
    expect(await committed()).toEqual({ ...before, [p]: 2 });
    await expect(replay(kafka, { groupId, topics: [topic.name], target: parseReplayTarget(`${p}:100000`) })).rejects.toThrow(/outside the log/);
  });

  it('refuses while the group has live members, and leaves its offsets alone', async () => {
    await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'latest' } });
    const before = await committed();
    const member = await joinIdle(kafka, { groupId, topics: [topic.name] });
    try {
      await waitFor(async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Stable', { what: 'live member' });
      const err = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'earliest' } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GroupActiveError);
      expect((err as Error).message).toMatch(/1 live member.*stop them first/);
      // A dry run still answers, and says the group is live.
      const dry = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'earliest' }, dryRun: true });
      expect(dry.state.members).toBe(1);
    } finally {
      await member.leave();
    }
    expect(await committed()).toEqual(before);
  });

  it('the CLI prints before/after and exits 1 with a clear message when refused', async () => {
    const env = { ...process.env, TOPIC_PARTITIONS: '3', LOG_LEVEL: 'error' };
    const { stdout } = await run(process.execPath,
      ['bin/marketstream.js', 'replay', '--group', groupId, '--topic', topic.name, '--to', 'earliest', '--json'], { env });
    const out = JSON.parse(stdout) as { applied: boolean; changes: Array<{ after: string; before: string | null }> };
    expect(out.applied).toBe(true);
    expect(out.changes.every((c) => c.after === '0')).toBe(true);
    expect(await committed()).toEqual({ 0: 0, 1: 0, 2: 0 });

    const member = await joinIdle(kafka, { groupId, topics: [topic.name] });
    try {
      await waitFor(async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Stable', { what: 'live member' });
      const failed = await run(process.execPath, ['bin/marketstream.js', 'replay', '--group', groupId, '--topic', topic.name, '--to', 'latest'], { env })
        .then(() => null, (e: { code: number; stderr: string }) => e);
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toMatch(/replay refused: consumer group .* has 1 live member/);
    } finally {
      await member.leave();
    }
  });
});
