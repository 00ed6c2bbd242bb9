// `marketstream dlq redrive` as the real CLI against Kafka, for what the README promises beyond one plain redrive
// (test/ops/dlq.int.test.ts): a redrive stopped in the middle (Ctrl-C) resumes where it was and sends nothing twice;
// --key, --from and --to (offsets and ISO times, both ends inclusive) send exactly the records they select and leave
// the others for a later redrive; a dead letter goes back only to the topic whose DLQ holds it, to its original
// partition, with its original timestamp and version. The dead letters are written by the publisher as a sink would
// (origin topic, partition, offset, timestamp and group), each with a unique key, so where each one went back is read
// off the original topics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { headersToStrings, RecordHeaders } from '../../lib/record-headers.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { redriveGroupId } from '../../ops/dlq/redrive.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { deleteTestTopics, randomName, readTopic, testConfig, testKafka, testLogger, type ConsumedMessage } from '../helpers/index.ts';
import { startCli } from '../cli/cli-process.ts';

const env = { KAFKA_GROUP_PREFIX: randomName('test-redrive'), TOPIC_PARTITIONS: '1', DLQ_MAX_REDRIVES: '3' };
const config = testConfig(env);
const kafka = testKafka(config);

interface RedriveJson {
  sent: number; notSelected: number; alreadyRedriven: number; incomplete: string | null; byOriginalTopic: Record<string, number>;
  positions: Array<{ before: string; after: string; end: string }>;
  refused: number; refusedByReason: Record<string, number>; refusedRecords: Array<{ key: string | null; reason: string; originalTopic: string | null }>;
}
const ORIGINAL_TIME = Date.UTC(2026, 10, 20, 9, 30, 0, 123);

describe('dlq redrive (CLI, real Kafka)', () => {
  const created: TopicDef<unknown>[] = [];
  let publisher: Publisher;

  beforeAll(async () => {
    publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('dlq-redrive-test') });
    await publisher.connect();
  });

  afterAll(async () => {
    await publisher?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups(created.map((t) => redriveGroupId(config, t.dlq))).catch(() => {});
    await admin.disconnect();
    await deleteTestTopics(kafka, created.flatMap((t) => [t.name, t.dlq]));
  });

  /** A topic of `partitions` partitions (its DLQ has one). */
  async function topic(partitions = 1): Promise<TopicDef<unknown>> {
    const t = withName(priceUpdates, randomName('test-redrive')) as TopicDef<unknown>;
    created.push(t);
    await ensureTopics(kafka, testConfig({ ...env, TOPIC_PARTITIONS: String(partitions) }), [t]);
    return t;
  }

  /**
   * Dead letters in `dlq.dlq`, one per key, in the order of `keys`: key i read from the original topic `origin(i)`
   * names, at partition `partition(i)` (default 0), offset i, with the Kafka timestamp ORIGINAL_TIME + i.
   */
  async function deadLetters(dlq: TopicDef<unknown>, keys: readonly string[], origin: (i: number) => string, oneAtATime = false,
    partition: (i: number) => number = () => 0): Promise<void> {
    const letters = keys.map((key, i) => ({
      key, value: Buffer.from(`value of ${key}`), headers: { source: 'test' }, error: new ValidationError(`test dead letter ${i}`),
      origin: { topic: origin(i), partition: partition(i), offset: String(i), group: 'test-group', timestamp: String(ORIGINAL_TIME + i) },
    }));
    if (!oneAtATime) return publisher.deadLetter(dlq, letters);
    for (const l of letters) await publisher.deadLetter(dlq, [l]); // one record batch each: distinct timestamps
  }

  async function redrive(dlq: string, args: string[] = [], opts: { interruptAfterFirstSend?: boolean } = {}): Promise<RedriveJson> {
    const cli = startCli(['dlq', 'redrive', '--topic', dlq, '--json', ...args], { ...env, LOG_LEVEL: opts.interruptAfterFirstSend ? 'debug' : 'error' });
    if (opts.interruptAfterFirstSend) {
      // Ctrl-C as soon as the first records were sent back and committed (its debug line: "sent back").
      let tail = '';
      const watch = (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4096);
        if (tail.includes('"msg":"sent back"')) { cli.child.stderr!.off('data', watch); cli.child.kill('SIGINT'); }
      };
      cli.child.stderr!.on('data', watch);
    }
    const { code } = await cli.closed;
    expect(code, cli.output().slice(-2000)).toBe(0);
    return JSON.parse(cli.stdout()) as RedriveJson;
  }

  /** The keys on a topic, each as often as it is there. */
  const keysOn = async (t: string, expected: number) => (await readTopic(kafka, t, { until: (r: ConsumedMessage[]) => r.length >= expected }))
    .map((m) => m.key!.toString()).sort();

  it('a redrive stopped by Ctrl-C resumes where it was: every dead letter goes back exactly once', async () => {
    const a = await topic(2);
    // Original partitions alternate, so each record is its own send: the redrive is still sending when it is interrupted.
    const keys = Array.from({ length: 200 }, (_, i) => `key-${String(i).padStart(3, '0')}`);
    await deadLetters(a, keys, () => a.name, false, (i) => i % 2);

    const first = await redrive(a.dlq, [], { interruptAfterFirstSend: true });
    expect(first.incomplete).toBe('interrupted');
    expect(first.sent).toBeGreaterThan(0);
    expect(first.sent).toBeLessThan(keys.length);
    expect(first.positions).toEqual([{ partition: 0, before: '0', after: String(first.sent), end: String(keys.length) }]);

    const second = await redrive(a.dlq);
    expect(second).toMatchObject({ sent: keys.length - first.sent, incomplete: null, alreadyRedriven: 0 });
    expect(second.positions).toEqual([{ partition: 0, before: String(first.sent), after: String(keys.length), end: String(keys.length) }]);
    const back = await readTopic(kafka, a.name, { until: (r: ConsumedMessage[]) => r.length >= keys.length });
    expect(back.map((m) => m.key!.toString()).sort()).toEqual(keys);
    expect(back.every((m) => m.partition === keys.indexOf(m.key!.toString()) % 2)).toBe(true); // each in its original partition

    expect(await redrive(a.dlq)).toMatchObject({ sent: 0, incomplete: null });
  });

  it('goes back only to the topic whose DLQ it is, to the original partition, with the original timestamp and version', async () => {
    const [t, other] = [await topic(2), await topic()];
    // k1 says it came from another topic (as a record in price-updates.dlq whose header says graph-mutations).
    const keys = ['k0', 'k1', 'k2'];
    await deadLetters(t, keys, (i) => (i === 1 ? other.name : t.name), false, (i) => (i === 0 ? 1 : 0));

    const r = await redrive(t.dlq);
    expect(r).toMatchObject({ sent: 2, refused: 1, refusedByReason: { 'other-topic': 1 }, byOriginalTopic: { [t.name]: 2 }, incomplete: null });
    expect(r.refusedRecords).toMatchObject([{ key: 'k1', reason: 'other-topic', originalTopic: other.name }]);
    const back = (await readTopic(kafka, t.name, { until: (x: ConsumedMessage[]) => x.length >= 2 })).sort((x, y) => x.key!.compare(y.key!));
    expect(back.map((m) => [m.key!.toString(), m.partition, Number(m.timestamp), headersToStrings(m.headers)[RecordHeaders.version]])).toEqual([
      ['k0', 1, ORIGINAL_TIME, '1:0'], ['k2', 0, ORIGINAL_TIME + 2, '0:2'],
    ]);
    expect(await readTopic(kafka, other.name)).toEqual([]); // not published anywhere
    expect(await readTopic(kafka, t.dlq)).toHaveLength(3); // left in the DLQ
    expect(await redrive(t.dlq)).toMatchObject({ sent: 0, refused: 0, incomplete: null }); // and not reported again
  });

  it('--key, --from and --to select by key, offset and record time (inclusive); what they leave goes back later, once', async () => {
    const t = await topic();
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`); // dead letter i is at offset i
    await deadLetters(t, keys, () => t.name, true);
    const times = (await readTopic(kafka, t.dlq)).sort((x, y) => Number(x.offset) - Number(y.offset)).map((m) => Number(m.timestamp));
    const iso = (ms: number) => new Date(ms).toISOString();

    // Keys k1, k2, k3 and k8, offsets 2 to 8: k2, k3, k8.
    const byKeyAndOffset = await redrive(t.dlq, ['--key', 'k1', 'k2', 'k3', 'k8', '--from', '2', '--to', '8']);
    expect(byKeyAndOffset).toMatchObject({ sent: 3, notSelected: 4, incomplete: null }); // read: offsets 2 to 8 only
    expect(byKeyAndOffset.positions).toEqual([{ partition: 0, before: '0', after: '0', end: '10' }]); // k0 and k1 are still to do
    expect(await keysOn(t.name, 3)).toEqual(['k2', 'k3', 'k8']);

    // Record times from dead letter 4's to dead letter 6's: the records in that window, whatever their offsets.
    const inWindow = keys.filter((_, i) => times[i]! >= times[4]! && times[i]! <= times[6]!);
    const byTime = await redrive(t.dlq, ['--from', iso(times[4]!), '--to', iso(times[6]!)]);
    expect(byTime).toMatchObject({ sent: inWindow.filter((k) => !['k2', 'k3', 'k8'].includes(k)).length, incomplete: null });
    const afterTime = [...new Set(['k2', 'k3', 'k8', ...inWindow])].sort();

    // Unfiltered: the rest, and nothing twice.
    const rest = await redrive(t.dlq);
    expect(rest).toMatchObject({ sent: keys.length - afterTime.length, notSelected: 0, incomplete: null });
    expect(rest.positions).toEqual([{ partition: 0, before: rest.positions[0]!.before, after: '10', end: '10' }]);
    expect(await keysOn(t.name, keys.length)).toEqual(keys);
  });
});
