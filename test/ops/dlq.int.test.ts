// `dlq stats|list|redrive` against the real Kafka, registry and PostgreSQL, with the real postgres-sink on isolated
// topics: a record the store rejected comes back once after the fix; garbage goes round DLQ_MAX_REDRIVES times and is
// then refused; stats count by error class and group; a dry run sends and commits nothing; filters leave the other
// dead letters for a later redrive, and nothing is ever sent twice.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Admin, IHeaders, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings, RecordHeaders } from '../../lib/record-headers.ts';
import { ValidationError } from '../../lib/errors.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool, type Pool } from '../../lib/stores/postgres.ts';
import { listDlq } from '../../ops/dlq/list.ts';
import { redrive, redriveGroupId, type RedriveOptions } from '../../ops/dlq/redrive.ts';
import { dlqStats } from '../../ops/dlq/stats.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import type { TailRecord } from '../../ops/inspect/tail.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, readDlq, readTopic, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';

const exec = promisify(execFile);
const logger = testLogger('dlq-test');
const GARBAGE = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03]);

/** The postgres-sink on its own price and event topics, group prefix and redrive group. */
interface Pipeline {
  config: Config;
  prices: TopicDef<PriceUpdate>;
  groupId: string;
  publisher: Publisher;
  start(): Promise<void>;
  /** Waits until the sink consumed everything on its price topic. */
  settle(): Promise<void>;
  redrive(o?: Omit<RedriveOptions, 'topic'>): ReturnType<typeof redrive>;
  /** Records (topic, as is, with no encoding) partitioned by key like the publisher. */
  sendRaw(messages: { key: string; value: Buffer; headers?: IHeaders }[]): Promise<void>;
}

describe('dlq', () => {
  let kafka: Kafka;
  let admin: Admin;
  let pool: Pool;
  const cleanups: Array<() => Promise<unknown>> = [];
  const symbols: string[] = [];

  beforeAll(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    await admin.connect();
    pool = createPgPool(testConfig(), { max: 2 });
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await pool?.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => {});
    await pool?.end();
    await admin?.disconnect();
  });

  const records = async (topic: string) => (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  /** The end of a DLQ's partition 0 (its dead letters and the commit markers of the transactions they were written in). */
  const dlqEnd = async (dlq: string) => (await admin.fetchTopicOffsets(dlq)).find((x) => x.partition === 0)!.high;
  /** Dead letters in a DLQ, read (its offsets also count transaction markers). */
  const deadLetters = async (dlq: string) => (await readTopic(kafka, dlq)).length;
  const rows = async (symbol: string) => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count);

  async function pipeline(): Promise<Pipeline> {
    const config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-dlq'), TOPIC_PARTITIONS: '3', SINK_RETRY_MAX_MS: '1000', DLQ_MAX_REDRIVES: '3' });
    const prices = withName(priceUpdates, randomName('test-dlq-prices'));
    const events = withName(marketEvents, randomName('test-dlq-events'));
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    let sinks: RunningSinks | undefined;
    const groupId = groupIdOf(config, 'postgres');
    cleanups.push(async () => {
      await sinks?.stop();
      await publisher.disconnect();
      // A fresh admin: the shared one knows topics other cleanups deleted, and its metadata refresh would fail on them.
      const a = kafka.admin();
      await a.connect();
      await a.deleteGroups([groupId, redriveGroupId(config, prices.dlq)]).catch(() => {}); // a dry run leaves no redrive group
      await a.disconnect();
      await deleteTestTopics(kafka, [prices.name, prices.dlq, events.name, events.dlq]);
    });
    // Retried: right after creating topics, kafkajs' wait for leaders can get "This server does not host this
    // topic-partition" from a broker whose metadata lags (it retries only LEADER_NOT_AVAILABLE); ensureTopics is idempotent.
    await waitFor(() => ensureTopics(kafka, config, [prices, events]).then(() => true), { what: 'isolated topics', timeoutMs: 60_000 });
    await publisher.connect();
    return {
      config, prices, groupId, publisher,
      async start() { sinks ??= await startSinks({ config, logger, names: ['postgres'], topics: { prices, events } }); },
      async settle() {
        await waitFor(async () => (await totalLag(admin, groupId, [prices.name])) === 0, { what: 'postgres-sink to consume everything', timeoutMs: 60_000 });
      },
      redrive: (o = {}) => redrive(kafka, config, logger, { topic: prices.dlq, ...o }),
      sendRaw: (messages) => publisher.sendRaw(prices.name, messages),
    };
  }

  it('a record the store rejected, redriven after the fix, lands once with redrive-count 1; a second redrive sends nothing', async () => {
    const p = await pipeline();
    const rejected = randomSymbol();
    const fine = randomSymbol();
    symbols.push(rejected, fine);
    // The cause: a trigger on price_data that refuses one symbol as data (SQLSTATE 22023, class 22 → ValidationError).
    const fn = `test_dlq_reject_${rejected.toLowerCase()}`;
    const dropTrigger = async () => {
      await pool.query(`DROP TRIGGER IF EXISTS ${fn} ON price_data`);
      await pool.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    };
    cleanups.push(dropTrigger);
    await pool.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.symbol = '${rejected}' THEN RAISE EXCEPTION 'test refuses symbol %', NEW.symbol USING ERRCODE = '22023'; END IF;
        RETURN NEW;
      END $$`);
    await pool.query(`CREATE TRIGGER ${fn} BEFORE INSERT OR UPDATE ON price_data FOR EACH ROW EXECUTE FUNCTION ${fn}()`);

    const bars = [bar(rejected, 0, 100), bar(rejected, 1, 101), bar(fine, 0, 50), bar(fine, 1, 51)];
    await p.publisher.send(p.prices, bars, { source: 'test', correlationId: 'dlq-test-run' });
    await p.start();
    const dead = await readDlq(kafka, p.prices.dlq, [rejected], 2);
    expect(dead.map((d) => [d.headers[DlqHeaders.errorClass], d.headers[DlqHeaders.consumerGroup], d.headers[DlqHeaders.redriveCount]]))
      .toEqual([['ValidationError', p.groupId, undefined], ['ValidationError', p.groupId, undefined]]);
    expect(dead[0]!.headers[DlqHeaders.errorMessage]).toMatch(/22023.*test refuses symbol/);
    await p.settle();
    expect([await rows(rejected), await rows(fine)]).toEqual([0, 2]);

    await dropTrigger(); // the fix
    // The DLQ's end counts the commit markers of the transactions the sink dead-letters in, besides the dead letters.
    const end1 = await dlqEnd(p.prices.dlq);
    const first = await p.redrive();
    expect(first).toMatchObject({ sent: 2, refused: 0, byOriginalTopic: { [p.prices.name]: 2 }, byErrorClass: { ValidationError: 2 }, incomplete: null });
    expect(first.positions).toEqual([{ partition: 0, before: '0', after: end1, end: end1 }]);
    await waitFor(async () => (await rows(rejected)) === 2, { what: `the redriven bars of ${rejected} in price_data` });
    await p.settle();
    expect(await rows(rejected)).toBe(2);
    expect(await deadLetters(p.prices.dlq)).toBe(2); // nothing dead-lettered again

    // On the topic: the two originals and, once each, the same key and bytes with the original headers and redrive-count 1.
    const mine = (await readTopic(kafka, p.prices.name)).filter((m) => m.key?.toString() === rejected);
    expect(mine).toHaveLength(4);
    const [originals, redriven] = [mine.filter((m) => !m.headers[DlqHeaders.redriveCount]), mine.filter((m) => m.headers[DlqHeaders.redriveCount])];
    expect(redriven.map((m) => m.value!.toString('hex')).sort()).toEqual(originals.map((m) => m.value!.toString('hex')).sort());
    for (const m of redriven) {
      const h = headersToStrings(m.headers);
      expect(h).toMatchObject({ [DlqHeaders.redriveCount]: '1', [RecordHeaders.source]: 'test', [RecordHeaders.correlationId]: 'dlq-test-run' });
      expect(Object.keys(h).filter((k) => k !== DlqHeaders.redriveCount && (Object.values(DlqHeaders) as string[]).includes(k))).toEqual([]);
      // Ordered as the original it restates: its partition, its version and its timestamp.
      const original = originals.find((o) => o.value!.equals(m.value!))!;
      expect([m.partition, h[RecordHeaders.version], m.timestamp])
        .toEqual([original.partition, `${original.partition}:${original.offset}`, original.timestamp]);
    }
    expect(dead.map((d) => Date.parse(d.headers[DlqHeaders.originalTimestamp]!)).sort())
      .toEqual(originals.map((o) => Number(o.timestamp)).sort());

    const topicBefore = await records(p.prices.name);
    const second = await p.redrive();
    expect(second).toMatchObject({ sent: 0, refused: 0, notSelected: 0 });
    expect(second.positions).toEqual([{ partition: 0, before: end1, after: end1, end: end1 }]);
    expect(await records(p.prices.name)).toBe(topicBefore);
  });

  it('garbage comes back with redrive-count 1, 2, 3 and is then refused (DLQ_MAX_REDRIVES=3); nothing new appears', async () => {
    const p = await pipeline();
    const key = randomName('garbage');
    await p.sendRaw([{ key, value: GARBAGE, headers: { source: 'test' } }]);
    await p.start();
    const counts = async (n: number) => (await readDlq(kafka, p.prices.dlq, [key], n)).map((d) => d.headers[DlqHeaders.redriveCount] ?? '-');
    expect(await counts(1)).toEqual(['-']);
    for (const round of [1, 2, 3]) {
      const r = await p.redrive();
      expect(r).toMatchObject({ sent: 1, refused: 0, byErrorClass: { DecodeError: 1 } });
      expect(await counts(round + 1)).toEqual(['-', ...[1, 2, 3].slice(0, round).map(String)]);
    }
    const dead = await readDlq(kafka, p.prices.dlq, [key], 4);
    expect(dead.every((d) => d.headers[DlqHeaders.errorClass] === 'DecodeError' && d.headers[RecordHeaders.source] === 'test')).toBe(true);

    const last = (await readTopic(kafka, p.prices.dlq)).filter((m) => m.key?.toString() === key).at(-1)!;
    const end = await dlqEnd(p.prices.dlq);
    const refused = await p.redrive();
    expect(refused).toMatchObject({ sent: 0, refused: 1, refusedByReason: { 'max-redrives': 1 }, maxRedrives: 3 });
    expect(refused.refusedRecords).toEqual([
      { partition: 0, offset: last.offset, key, errorClass: 'DecodeError', reason: 'max-redrives', redriveCount: '3', originalTopic: p.prices.name },
    ]);
    expect(refused.positions[0]).toMatchObject({ before: last.offset, after: end, end });
    await p.settle();
    await sleep(1000);
    expect([await records(p.prices.name), await deadLetters(p.prices.dlq)]).toEqual([4, 4]); // 1 sent + 3 redriven; 4 dead letters

    // Remembered: a later redrive does not even report it again.
    expect(await p.redrive()).toMatchObject({ sent: 0, refused: 0 });
  });

  it('stats count by error class and source group; list filters by class; a dry run sends nothing and commits nothing', async () => {
    const p = await pipeline();
    const s = randomSymbol();
    symbols.push(s);
    const started = Date.now();
    await p.publisher.send(p.prices, [bar(s, 0, 50, { high: 10, low: 60 }), bar(s, 1, 50, { high: 10, low: 60 })], { source: 'test' }); // high < low
    await p.sendRaw([{ key: s, value: GARBAGE }]);
    await p.publisher.deadLetter(p.prices, [{
      key: s, value: Buffer.from(JSON.stringify({ symbol: s, close: -1 })), headers: { source: 'test' }, error: new ValidationError('close must be positive'),
    }]);
    await p.start();
    await readDlq(kafka, p.prices.dlq, [s], 4);
    await p.settle();

    const [stats] = await dlqStats(kafka, p.config, [p.prices.dlq]);
    expect(stats).toMatchObject({
      topic: p.prices.dlq, exists: true, records: 4, byErrorClass: { ValidationError: 3, DecodeError: 1 }, byGroup: { [p.groupId]: 3, producer: 1 },
    });
    expect(Date.parse(stats!.oldest!)).toBeGreaterThanOrEqual(started);
    expect(Date.parse(stats!.newest!)).toBeGreaterThanOrEqual(Date.parse(stats!.oldest!));
    expect(Date.parse(stats!.newest!)).toBeLessThanOrEqual(Date.now());
    const env = { ...process.env, KAFKA_GROUP_PREFIX: p.config.KAFKA_GROUP_PREFIX, LOG_LEVEL: 'error' };
    const cli = async (...args: string[]) => JSON.parse((await exec(process.execPath, ['bin/marketstream.js', 'dlq', ...args], { env })).stdout);
    expect(await cli('stats', '--topic', p.prices.name, '--json')).toEqual([stats]); // a main topic names its DLQ

    const listed: TailRecord[] = [];
    await listDlq(kafka, p.config, createRecordDecoder(p.config), { topic: p.prices.dlq, errorClasses: ['DecodeError'], onRecord: (r) => listed.push(r) });
    expect(listed.map((r) => [r.dlq?.errorClass, r.value.kind, r.dlq?.raw?.bytes])).toEqual([['DecodeError', 'raw', GARBAGE.length]]);

    const topicBefore = await records(p.prices.name);
    const end = await dlqEnd(p.prices.dlq);
    const dry = await p.redrive({ dryRun: true });
    expect(dry).toMatchObject({
      dryRun: true, sent: 3, byOriginalTopic: { [p.prices.name]: 3 }, byErrorClass: { ValidationError: 2, DecodeError: 1 },
      refused: 1, refusedByReason: { 'never-published': 1 }, positions: [{ partition: 0, before: '0', after: '0', end }],
    });
    expect(await cli('redrive', '--topic', p.prices.dlq, '--dry-run', '--json')).toMatchObject({ dryRun: true, sent: 3, refused: 1 });
    await sleep(1000);
    expect(await records(p.prices.name)).toBe(topicBefore);
    const committed = (await admin.fetchOffsets({ groupId: redriveGroupId(p.config, p.prices.dlq), topics: [p.prices.dlq] }))[0]!.partitions;
    expect(committed.map((c) => c.offset)).toEqual(['-1']);
    // Neither the redrive group nor the dry run's throwaway group is left behind.
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${p.config.KAFKA_GROUP_PREFIX}.dlq-redrive`));
    expect(groups).toEqual([]);
  });

  it('a filtered redrive leaves the other dead letters for a later one, and no record is ever sent twice', async () => {
    const p = await pipeline();
    const s = randomSymbol();
    symbols.push(s);
    await p.publisher.send(p.prices, [bar(s, 0, 50, { high: 10, low: 60 }), bar(s, 1, 50, { high: 10, low: 60 })], { source: 'test' });
    await p.sendRaw([{ key: s, value: GARBAGE }]);
    await p.start();
    await readDlq(kafka, p.prices.dlq, [s], 3);

    // Each redriven record fails again (nothing was fixed) and comes back to the DLQ with its redrive-count.
    expect(await p.redrive({ errorClasses: ['ValidationError'] })).toMatchObject({ sent: 2, notSelected: 1 });
    await readDlq(kafka, p.prices.dlq, [s], 5);
    expect(await p.redrive({ errorClasses: ['DecodeError'] })).toMatchObject({ sent: 1, byErrorClass: { DecodeError: 1 } });
    await readDlq(kafka, p.prices.dlq, [s], 6);
    // Unfiltered: exactly the three records dead-lettered again since, not the originals handled before.
    const end = await dlqEnd(p.prices.dlq);
    const all = await p.redrive();
    expect(all).toMatchObject({ sent: 3, refused: 0, notSelected: 0 });
    expect(all.positions).toEqual([{ partition: 0, before: all.positions[0]!.before, after: end, end }]);

    const sent = (await readTopic(kafka, p.prices.name)).filter((m) => m.key?.toString() === s)
      .map((m) => headersToStrings(m.headers)[DlqHeaders.redriveCount] ?? '0');
    expect(sent.sort()).toEqual(['0', '0', '0', '1', '1', '1', '2', '2', '2']);
  });
});
