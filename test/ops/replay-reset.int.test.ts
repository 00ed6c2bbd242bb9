// Replay's kafka-consumer-groups --reset-offsets options against the real Kafka: --shift-by (clamped to the log like
// Kafka's), --by-duration, --to-datetime (and --to <ISO> as its alias), and --export → change → --from-file restoring the
// exact offsets, with a bad --from-file line rejected by its number and nothing changed.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffsetsFileError } from '../../lib/errors.ts';
import { type Publisher } from '../../lib/publisher.ts';
import { exportOffsets, readOffsetsFile, replay, type ReplayResult } from '../../ops/replay.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { type TopicDef } from '../../topics/index.ts';
import { deleteTestTopics, randomName, testConfig, testKafka, testLogger } from '../helpers/index.ts';
import { publishReplayLog } from './replay-fixture.ts';

const run = promisify(execFile);
const config = testConfig({ TOPIC_PARTITIONS: '3' });
const logger = testLogger('replay-reset-test');
const env = { ...process.env, TOPIC_PARTITIONS: '3', LOG_LEVEL: 'error' };
const cli = (...args: string[]) => run(process.execPath, ['bin/marketstream.js', 'replay', ...args], { env });
const cliFails = (...args: string[]) => cli(...args).then(() => null, (e: { code: number; stderr: string }) => e);

describe('replay as kafka-consumer-groups --reset-offsets', () => {
  let kafka: Kafka;
  let admin: Admin;
  let publisher: Publisher;
  let topic: TopicDef<PriceUpdate>;
  let groupId: string;
  let tmp: string;
  let firstBatch: PriceUpdate[];
  let secondBatch: PriceUpdate[];
  let between: number;

  const committed = async (g = groupId) => Object.fromEntries(((await admin.fetchOffsets({ groupId: g, topics: [topic.name] }))[0]?.partitions ?? [])
    .map((p) => [p.partition, Number(p.offset)]));
  const bounds = async () => Object.fromEntries((await admin.fetchTopicOffsets(topic.name)).map((p) =>
    [p.partition, { low: Number(p.low), high: Number(p.high) }]));
  const toRead = (r: ReplayResult) => r.changes.reduce((n, c) => n + c.lagAfter, 0);
  const latest = () => replay(kafka, { groupId, topics: [topic.name], target: { kind: 'latest' } });

  beforeAll(async () => {
    kafka = testKafka(config);
    admin = kafka.admin();
    await admin.connect();
    tmp = await mkdtemp(path.join(tmpdir(), 'replay-reset-'));
    ({ topic, groupId, publisher, firstBatch, secondBatch, between } =
      await publishReplayLog(kafka, config, logger, { name: 'test-replay-reset', pauseMs: 1500 }));
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await admin?.deleteGroups([groupId]).catch(() => {});
    await admin?.disconnect();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
    await rm(tmp, { recursive: true, force: true });
  });

  it('--shift-by moves each partition N records from its committed offset, clamped to the log like Kafka', async () => {
    await latest();
    const b = await bounds();
    const back = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'shift', by: -2 } });
    expect(await committed()).toEqual(Object.fromEntries(Object.entries(b).map(([p, x]) => [p, Math.max(x.low, x.high - 2)])));
    expect(toRead(back)).toBe(Object.values(b).reduce((n, x) => n + Math.min(2, x.high - x.low), 0));

    const forward = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'shift', by: 1 } });
    expect(forward.changes.map((c) => Number(c.after) - Number(c.before))).toEqual(forward.changes.map((c) => (Number(c.before) < Number(c.latest) ? 1 : 0)));

    // Past either end: the earliest (latest) offset, and the plan says what was asked for.
    const tooFar = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'shift', by: -1000 } });
    expect(await committed()).toEqual(Object.fromEntries(Object.entries(b).map(([p, x]) => [p, x.low])));
    for (const c of tooFar.changes) expect(c.clamped).toEqual({ requested: String(Number(c.before) - 1000), to: 'earliest' });
    const { stdout } = await cli('--group', groupId, '--topic', topic.name, '--shift-by', '+1000');
    expect(stdout).toMatch(/clamped to latest/);
    expect(await committed()).toEqual(Object.fromEntries(Object.entries(b).map(([p, x]) => [p, x.high])));

    // Like kafka-consumer-groups: no committed offset, nothing to shift from.
    await expect(replay(kafka, { groupId: randomName('test-replay-nothing'), topics: [topic.name], target: { kind: 'shift', by: -1 }, dryRun: true }))
      .rejects.toThrow(/cannot shift .* partition\(s\) 0, 1, 2: group .* has no committed offset there/);
  });

  it('--by-duration resets to now minus an ISO 8601 duration, by Kafka timestamp', async () => {
    await latest();
    const ms = Date.now() - between;
    const iso = `PT${(ms / 1000).toFixed(3)}S`;
    const r = await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'duration', iso, ms } });
    expect(Math.abs(r.at! - between)).toBeLessThan(1000);
    expect(toRead(r)).toBe(secondBatch.length);
    const now = await committed();
    for (const c of r.changes) expect(now[c.partition]).toBe(Number(c.after));

    // Through the CLI: an hour back reaches every record; a bad duration is refused with the accepted form.
    const { stdout } = await cli('--group', groupId, '--topic', topic.name, '--by-duration', 'PT1H', '--json');
    expect((JSON.parse(stdout) as { changes: Array<{ after: string }> }).changes.map((c) => c.after)).toEqual(['0', '0', '0']);
    const bad = await cliFails('--group', groupId, '--topic', topic.name, '--by-duration', 'P1M');
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/expected an ISO 8601 duration PnDTnHnMnS .* give days \(P30D\)/);
  });

  it('--to-datetime resets to the first record at or after a time by Kafka timestamp; --to <ISO> is the same', async () => {
    await latest();
    const at = new Date(between).toISOString();
    const dry = JSON.parse((await cli('--group', groupId, '--topic', topic.name, '--to', at, '--dry-run',
      '--json')).stdout) as { changes: Array<{ after: string; lagAfter: number }> };
    const { stdout } = await cli('--group', groupId, '--topic', topic.name, '--to-datetime', at, '--json');
    const out = JSON.parse(stdout) as { applied: boolean; target: string; changes: Array<{ partition: number; after: string; lagAfter: number }> };
    expect(out.applied).toBe(true);
    expect(out.target).toBe(at);
    expect(out.changes.map((c) => c.after)).toEqual(dry.changes.map((c) => c.after));
    expect(out.changes.reduce((n, c) => n + c.lagAfter, 0)).toBe(secondBatch.length);
    expect(await committed()).toEqual(Object.fromEntries(out.changes.map((c) => [c.partition, Number(c.after)])));
    const both = await cliFails('--group', groupId, '--topic', topic.name, '--to', 'earliest', '--to-datetime', at);
    expect(both?.stderr).toMatch(/give one of .*, not --to and --to-datetime/);
  });

  it('--export saves the current offsets as kafka-consumer-groups CSV; --from-file restores exactly them', async () => {
    // Distinct offsets per partition: the boundary between the two batches.
    await replay(kafka, { groupId, topics: [topic.name], target: { kind: 'time', at: between } });
    const saved = await committed();
    const file = path.join(tmp, 'offsets.csv');

    // Export, then rewind to the earliest, in one command: the file holds the offsets from before the change.
    const { stdout } = await cli('--group', groupId, '--topic', topic.name, '--to', 'earliest', '--export', file);
    expect(stdout).toMatch(/saved the current offsets of 3 partition\(s\) to .*offsets\.csv/);
    expect(await readFile(file, 'utf8')).toBe([0, 1, 2].map((p) => `${topic.name},${p},${saved[p]}\n`).join(''));
    expect(await committed()).toEqual({ 0: 0, 1: 0, 2: 0 });

    // An export never overwrites a saved file.
    const again = await cliFails('--group', groupId, '--topic', topic.name, '--export', file);
    expect(again?.stderr).toMatch(/offsets\.csv exists: --export never overwrites/);

    // Restore: a dry run first, then for real.
    const dry = JSON.parse((await cli('--group', groupId, '--from-file', file, '--dry-run', '--json')).stdout) as { target: string;
      changes: Array<{ after: string }> };
    expect(dry.target).toBe(`offsets from ${file}`);
    expect(await committed()).toEqual({ 0: 0, 1: 0, 2: 0 });
    await cli('--group', groupId, '--from-file', file);
    expect(await committed()).toEqual(saved);

    // --export alone only saves; the file reads back as the same offsets.
    const alone = path.join(tmp, 'alone.csv');
    const e = await exportOffsets(kafka, { groupId, topics: [topic.name], file: alone });
    expect(e).toMatchObject({ rows: 3, withoutOffset: [] });
    expect((await readOffsetsFile(alone, groupId)).map((x) => [x.topic, x.partition, Number(x.offset)])).toEqual([0, 1, 2].map((p) =>
      [topic.name, p, saved[p]]));
    expect(await committed()).toEqual(saved);
  });

  it('--from-file rejects a file with bad lines, naming each, and changes nothing', async () => {
    await latest();
    const before = await committed();
    const b = await bounds();
    const file = path.join(tmp, 'bad.csv');
    await writeFile(file, [
      `${topic.name},0,${b[0]!.low}`,
      `${topic.name},7,0`, // no such partition
      `${topic.name},1,${b[1]!.high + 5}`, // past the end of the log
      'no-such-topic-anywhere,0,0',
      `${topic.name},2,abc`,
    ].join('\n') + '\n');
    // Syntax first: the offset that is not a number.
    const syntax = await readOffsetsFile(file, groupId).catch((err: unknown) => err);
    expect(syntax).toBeInstanceOf(OffsetsFileError);
    expect((syntax as OffsetsFileError).lines).toEqual([{ line: 5, text: `${topic.name},2,abc`, reason: 'offset "abc" is not a non-negative integer' }]);

    await writeFile(file, [`${topic.name},0,${b[0]!.low}`, `${topic.name},7,0`, `${topic.name},1,${b[1]!.high + 5}`].join('\n') + '\n');
    const entries = await readOffsetsFile(file, groupId);
    const err = await replay(kafka, { groupId, topics: [], target: { kind: 'file', file, entries } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OffsetsFileError);
    expect((err as OffsetsFileError).lines.map((l) => [l.line, l.reason])).toEqual([
      [2, `${topic.name} has no partition 7 (it has 3: 0..2)`],
      [3, `offset ${b[1]!.high + 5} is outside the log of ${topic.name} partition 1 (${b[1]!.low}..${b[1]!.high})`],
    ]);
    expect(await committed()).toEqual(before);

    // The CLI says which line and why, exits 1, and moves nothing; a topic that does not exist is named by its line too.
    await writeFile(file, `${topic.name},0,${b[0]!.low}\nno-such-topic-anywhere,0,0\n`);
    const failed = await cliFails('--group', groupId, '--from-file', file);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(
      /replay failed: .*bad\.csv: 1 bad line\(s\), nothing was changed\n {2}line 2 "no-such-topic-anywhere,0,0": topic no-such-topic-anywhere does not exist/);
    expect(await committed()).toEqual(before);
  });
});
