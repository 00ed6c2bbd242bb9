// `inspect topics|groups|tail` against the real Kafka and registry: offsets and retention of topics, members and lag
// of groups, decoded records with schema id and version, DLQ records with their error and raw bytes, and --follow.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { joinIdle } from '../../lib/records.ts';
import { createSerde, type Serde } from '../../lib/serde.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import { inspectGroups } from '../../ops/inspect/groups.ts';
import { tail, type TailRecord } from '../../ops/inspect/tail.ts';
import { inspectTopics } from '../../ops/inspect/topics.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { bar, consumeMessages, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';

const exec = promisify(execFile);
const config = testConfig({ TOPIC_PARTITIONS: '3', PRICE_RETENTION_DAYS: '7' });
const logger = testLogger('inspect-test');
const cli = async (...args: string[]) =>
  (await exec(process.execPath, ['bin/marketstream.js', 'inspect', ...args], { env: { ...process.env, LOG_LEVEL: 'error' } })).stdout;

describe('inspect', () => {
  let kafka: Kafka;
  let admin: Admin;
  let serde: Serde;
  let publisher: Publisher;
  let topic: TopicDef<PriceUpdate>;
  const groupId = randomName('test-inspect-group');
  const symbols = [randomSymbol(), randomSymbol(), randomSymbol()];
  const first = symbols.flatMap((s) => [0, 1, 2, 3].map((i) => bar(s, i, 100 + i)));
  const second = symbols.map((s) => bar(s, 10, 500));
  const invalid = bar(symbols[0]!, 20, 300, { high: 1 });
  let between = 0;

  const collect = async (o: Omit<Parameters<typeof tail>[3], 'onRecord'>) => {
    const out: TailRecord[] = [];
    await tail(kafka, config, createRecordDecoder(config), { ...o, onRecord: (r) => out.push(r) });
    return out;
  };

  beforeAll(async () => {
    kafka = testKafka(config);
    admin = kafka.admin();
    await admin.connect();
    serde = createSerde(config);
    topic = withName(priceUpdates, randomName('test-inspect'));
    await ensureTopics(kafka, config, [topic]);
    publisher = createPublisher({ kafka, serde, logger });
    await publisher.connect();
    await publisher.send(topic, first, { source: 'test' });
    await consumeMessages(kafka, topic.name, first.length, { groupId }); // the group commits the first batch
    await sleep(50);
    between = Date.now();
    await sleep(50);
    await publisher.send(topic, second, { source: 'test' }); // … and lags by the second
    await publisher.deadLetter(topic, [{
      key: invalid.symbol, value: await serde.encode(topic, invalid), headers: { source: 'test' },
      error: new ValidationError('high 1 is below max(open 299, close 300)'), origin: { topic: topic.name, partition: 2, offset: '7', group: groupId },
    }]);
  });

  afterAll(async () => {
    await publisher?.disconnect();
    await admin?.deleteGroups([groupId]).catch(() => {});
    await admin?.disconnect();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('topics: partitions, leaders, earliest/latest offsets and retention; unknown names reported', async () => {
    const { topics, missing } = await inspectTopics(admin, config, { names: [topic.name, topic.dlq, 'no-such-topic-here'] });
    expect(missing).toEqual(['no-such-topic-here']);
    const [main, dlq] = topics;
    expect(main?.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    expect(main?.partitions.every((p) => p.leader >= 0 && p.isr.includes(p.leader) && p.earliest === '0')).toBe(true);
    expect(main?.records).toBe(first.length + second.length);
    expect(main?.retentionMs).toBe(7 * 86_400_000);
    expect(dlq).toMatchObject({ name: topic.dlq, records: 1, cleanupPolicy: 'delete' });

    const json = JSON.parse(await cli('topics', topic.name, '--json')) as { topics: Array<{ name: string; records: number }> };
    expect(json.topics.map((t) => [t.name, t.records])).toEqual([[topic.name, first.length + second.length]]);
    const text = await cli('topics', topic.name);
    expect(text).toContain(`${topic.name}  3 partition(s)  retention 7d  cleanup delete  ${first.length + second.length} record(s)`);
  });

  it('groups: committed offset, latest and lag per partition, and live members with their partitions', async () => {
    const [g] = await inspectGroups(admin, config, { names: [groupId], topics: [topic.name] });
    expect(g?.state).toBe('Empty');
    expect(g?.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    expect(g?.totalLag).toBe(second.length);
    for (const p of g!.partitions) expect(p.lag).toBe(p.latest - (p.committed ?? 0));

    const member = await joinIdle(kafka, { groupId, topics: [topic.name] }); // reads nothing: holds the lag while we look
    try {
      const live = await waitFor(async () => {
        const [x] = await inspectGroups(admin, config, { names: [groupId] });
        return x?.state === 'Stable' ? x : null;
      }, { what: 'stable group' });
      expect(live.members).toHaveLength(1);
      expect(live.members[0]?.assignment).toEqual({ [topic.name]: [0, 1, 2] }); // found from the assignment, no --topic needed
      expect(live.totalLag).toBe(second.length);
      const text = await cli('groups', groupId);
      expect(text).toContain(`${groupId}  Stable  1 member(s)  lag ${second.length}`);
      expect(text).toMatch(new RegExp(`${topic.name}\\[0,1,2\\]`));
    } finally {
      await member.leave();
    }
  });

  it('tail: the last N records over all partitions, decoded, with schema id and version', async () => {
    const records = await collect({ topic: topic.name, last: 3 });
    expect(records).toHaveLength(3);
    const id = await serde.schemaId(topic);
    for (const r of records) {
      expect(r.value).toMatchObject({ kind: 'avro', schema: { id, subject: topic.subject, version: 1 } });
      expect(r.headers.source).toBe('test');
      expect(r.key).toBe((r.value as { value: PriceUpdate }).value.symbol);
    }
    expect(records.map((r) => (r.value as { value: PriceUpdate }).value).sort((a, b) => a.symbol.localeCompare(b.symbol))).toEqual([...second].sort((a, b) =>
      a.symbol.localeCompare(b.symbol)));
    expect([...records.map((r) => r.timestamp)].sort()).toEqual(records.map((r) => r.timestamp));

    const since = await collect({ topic: topic.name, from: between });
    expect(since).toHaveLength(second.length);

    const lines = (await cli('tail', topic.name, '--last', '2', '--json')).trim().split('\n').map((l) => JSON.parse(l) as TailRecord);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ topic: topic.name, value: { kind: 'avro', schema: { id, version: 1 } } });
  });

  it('tail of a DLQ: the error headers, where the record came from, and its raw bytes', async () => {
    const [r] = await collect({ topic: topic.dlq });
    expect(r?.dlq).toMatchObject({ errorClass: 'ValidationError', errorMessage: 'high 1 is below max(open 299, close 300)', originalTopic: topic.name,
      originalPartition: '2', originalOffset: '7', consumerGroup: groupId });
    expect(r?.dlq?.raw?.hex.startsWith('00 00 00')).toBe(true); // magic byte 0 and the schema id
    expect(r?.value).toMatchObject({ kind: 'avro', value: { symbol: invalid.symbol, high: 1 } });

    const text = await cli('tail', topic.dlq);
    expect(text).toContain('error    ValidationError: high 1 is below max(open 299, close 300)');
    expect(text).toContain(`from     ${topic.name}/2@7  group ${groupId}`);
    expect(text).toMatch(/raw {6}\d+ bytes {2}hex 00 00 00/);
  });

  it('tail --follow prints the backlog, then new records as they arrive, until stopped', async () => {
    const seen: TailRecord[] = [];
    const stop = new AbortController();
    const running = tail(kafka, config, createRecordDecoder(config),
      { topic: topic.name, last: 1, follow: true, signal: stop.signal, onRecord: (r) => seen.push(r) });
    await waitFor(() => seen.length === 1, { what: 'backlog of 1' });
    const late = bar(symbols[1]!, 30, 777);
    await publisher.send(topic, [late], { source: 'test' });
    await waitFor(() => seen.length === 2, { what: 'the new record' });
    expect((seen[1]?.value as { value: PriceUpdate }).value).toEqual(late);
    stop.abort();
    await running;
  });
});
