// "Keys are partitioned with murmur2 like the Java client" (README, delivery guarantees), checked against the Java
// client itself rather than against the partitioner we use: a few lines of Java, compiled here against the Kafka
// clients jar of the local stack, print the partition Kafka's own producer picks for each key
// (BuiltInPartitioner.partitionForKey over the StringSerializer's bytes: Utils.toPositive(Utils.murmur2(key)) % n).
// Our publisher sends the same keys to real topics of n partitions, and each record must be where Java would put it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureMavenLib } from '../../stack/java.ts';
import { kafkaLib } from '../../stack/services/kafka.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, withName, type TopicDef } from '../../topics/index.ts';
import { deleteTestTopics, randomName, readTopic, testConfig, testKafka, testLogger } from '../helpers/index.ts';

const exec = promisify(execFile);

const JAVA = `
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.serialization.StringSerializer;

/** For each key (one per line of args[0]) the partitions Kafka's producer picks among args[1], args[2], … partitions. */
public class JavaPartitions {
  public static void main(String[] args) throws Exception {
    StringSerializer serializer = new StringSerializer();
    for (String key : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
      StringBuilder line = new StringBuilder();
      for (int i = 1; i < args.length; i++) {
        if (i > 1) line.append(' ');
        line.append(BuiltInPartitioner.partitionForKey(serializer.serialize("topic", key), Integer.parseInt(args[i])));
      }
      System.out.println(line);
    }
  }
}
`;

/** The keys the product sends (symbols, event ids, graph entity keys) and others that exercise murmur2's tail and UTF-8. */
const KEYS = [
  'AAPL', 'MSFT', 'GOOGL', 'TSLA', 'NVDA', 'BRK.B', '^GSPC', 'EURUSD=X', 'A', 'GE',
  'Company:AAPL', 'Sector:Technology', 'CORRELATED_WITH:AAPL:MSFT', 'COMPETES_WITH:TSLA:GM',
  'AFFECTS:0f9c2a4e81b7d3c5:AAPL', '0f9c2a4e81b7d3c5', 'MarketEvent:0f9c2a4e81b7d3c5',
  'Société Générale', 'Nestlé', '日本株', '📈 up', '',
  ...Array.from({ length: 40 }, (_, i) => randomUUID().replaceAll('-', '').slice(0, 1 + (i % 17))),
];
const PARTITIONS = [7, 12];

describe('publisher: partitions keys as the Java client does', () => {
  const config = testConfig();
  const kafka = testKafka(config);
  const topics: TopicDef<unknown>[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'java-partitions-'));
  let publisher: Publisher;
  let java: number[][];

  beforeAll(async () => {
    const { pom, lib } = kafkaLib();
    await ensureMavenLib(pom, lib, { log: () => {}, exclusive: (_what, fn) => fn() });
    writeFileSync(path.join(dir, 'JavaPartitions.java'), JAVA);
    writeFileSync(path.join(dir, 'keys.txt'), `${KEYS.join('\n')}\n`);
    await exec('javac', ['-cp', `${lib}/*`, '-d', dir, path.join(dir, 'JavaPartitions.java')]);
    const { stdout } = await exec('java', ['-cp', `${dir}:${lib}/*`, 'JavaPartitions', path.join(dir, 'keys.txt'), ...PARTITIONS.map(String)]);
    java = stdout.trimEnd().split('\n').map((l) => l.split(' ').map(Number));
    publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('murmur2-test') });
    await publisher.connect();
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await publisher?.disconnect();
    await deleteTestTopics(kafka, topics.flatMap((t) => [t.name, t.dlq]));
  });

  it.each(PARTITIONS.map((n, column) => [n, column]))('%i partitions: every key lands where the Java producer would put it', async (n, column) => {
    expect(java).toHaveLength(KEYS.length);
    const topic = withName(graphMutations, randomName(`test-murmur2-${n}`)) as TopicDef<unknown>;
    topics.push(topic);
    await ensureTopics(kafka, testConfig({ TOPIC_PARTITIONS: String(n) }), [topic]);
    await Promise.all(KEYS.map((key) => publisher.sendTombstone(topic, key, { source: 'test' })));

    const landed = new Map((await readTopic(kafka, topic.name)).map((m) => [m.key?.toString('utf8') ?? null, m.partition]));
    const expected = new Map(KEYS.map((key, i) => [key, java[i]![column]!]));
    expect(landed).toEqual(expected);
    expect(new Set(expected.values()).size).toBeGreaterThan(1); // the keys spread: a constant partitioner fails
  });
});
