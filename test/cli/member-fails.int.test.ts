// No silently dead member (issue #19, item 4), on a real `marketstream consume postgres`: its price topic's DLQ accepts
// records of at most 64 bytes (max.message.bytes), so a bad record's dead letter, its reason headers alone larger than
// that, is refused by Kafka for good (MESSAGE_TOO_LARGE: sending it again can never succeed). kafkajs does not restart
// a consumer from such an error; before, the member was then dead while the process ran on. Now the command stops,
// says why, and exits 1 (so a supervisor starts it again), and the bad record's offset is not committed: nothing lost.
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger } from '../helpers/index.ts';
import { startCli, type CliProcess } from './cli-process.ts';

const prefix = randomName('test-member-fails');
const topic = withName(priceUpdates, randomName('test-member-fails-prices'));
const env = { KAFKA_GROUP_PREFIX: prefix, PRICE_UPDATES_TOPIC: topic.name, TOPIC_PARTITIONS: '1', LOG_LEVEL: 'info' };
const config = testConfig(env);
const logger = testLogger('member-fails-test');

describe('a member that fails for good', () => {
  const kafka = testKafka(config);
  const children: CliProcess[] = [];

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([`${prefix}.postgres-sink`]).catch(() => {});
    await admin.disconnect();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('stops the command with a log line that says why, exit 1, and commits nothing past the record it could not handle', async () => {
    await ensureTopics(kafka, config, [topic]);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: topic.dlq, configEntries: [{ name: 'max.message.bytes', value: '64' }] }] });
      const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
      await publisher.connect();
      // Avro-valid, but high below open and close: the sink dead-letters it.
      await publisher.send(topic, [bar(randomSymbol(), 0, 100, { high: 1 })], { source: 'test' }).finally(() => publisher.disconnect());

      const cli = startCli(['consume', 'postgres'], env);
      children.push(cli);
      const exit = await Promise.race([cli.exited, new Promise((resolve) => setTimeout(resolve, 90_000, 'still running after 90 s'))]);
      expect(exit, cli.output().slice(-3000)).toEqual({ code: 1, signal: null });
      const said = cli.logs().filter((l) => l.msg === 'a consumer group member stopped for good; stopping the command, exit code 1');
      expect(said, cli.output().slice(-3000)).toHaveLength(1);
      expect(String(said[0]!.err)).toMatch(/larger than the max message size|MESSAGE_TOO_LARGE/i);
      const [committed] = await admin.fetchOffsets({ groupId: `${prefix}.postgres-sink`, topics: [topic.name] });
      expect(committed!.partitions.map((p) => p.offset)).toEqual(['-1']);
    } finally {
      await admin.disconnect();
    }
  }, 150_000);
});
