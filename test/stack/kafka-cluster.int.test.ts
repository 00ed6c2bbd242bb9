// Kafka as a three-broker cluster, with faults caused for real on a cluster of the test's own (the shared broker is never
// touched): the broker leading most price-updates partitions SIGKILLed mid-stream, and a broker frozen long enough for
// kafkajs to give up on a send, which the publisher then sends again. The shared Schema Registry and PostgreSQL serve.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runBrokerKill } from '../../bench/faults/broker-kill.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { describeTopics, ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, randomName, randomSymbol, testConfig } from '../helpers/index.ts';
import { startTestKafkaCluster } from '../helpers/kafka-cluster.ts';

/** BROKER_KILL_RECORDS: bars of the broker-kill test (50,000 here; `npm run faults` runs 200,000). */
const RECORDS = Number(process.env.BROKER_KILL_RECORDS ?? 50_000);
const say = (m: string) => process.stderr.write(`[kafka-cluster] ${m}\n`);

describe('three-broker Kafka cluster (a cluster of the test\'s own)', () => {
  it(`a broker leading most price-updates partitions SIGKILLed while ${RECORDS} bars are produced and consumed: each bar once in PostgreSQL, ` +
    `committed = end, no send failed`, async () => {
    const r = await runBrokerKill({ records: RECORDS, config: testConfig(), say });
    say(JSON.stringify({ ...r, leadersAfter: undefined }));

    expect(r.killedLeaderOf.length).toBeGreaterThanOrEqual(2); // most of 6 partitions over 3 brokers
    expect(Object.values(r.leadersAfter)).not.toContain(r.killedNode);
    expect(r.lost).toBe(0);
    expect(r.doubled).toBe(0);
    expect(r.logRecords).toBe(RECORDS);
    expect(r.rows).toBe(RECORDS);
    expect(r.wrongValues).toBe(0);
    expect(r.checksum.rows).toBe(r.checksum.expected);
    expect(r.committedAtEnd).toBe(true);
    expect(r.producer.sendFailures).toBe(0);
    expect(r.recoverSeconds).not.toBeNull();
  }, 175_000);

  it('a send kafkajs gives up on (its broker frozen past the request timeout) is sent again by the publisher and written once', async () => {
    const cluster = await startTestKafkaCluster({ nodes: 1 });
    const warnings: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.includes('"component":"publisher"') && line.includes('send failed')) warnings.push(line);
        done();
      },
    });
    const logger = createLogger({ level: 'warn', format: 'json', destination });
    const config = { ...testConfig({ KAFKA_BROKERS: cluster.brokers.join(',') }), TOPIC_PARTITIONS: 3 };
    const topic = withName(priceUpdates, randomName('test-frozen'));
    // kafkajs times a request out after 1.5 s and retries once (requests to one broker go one at a time): a broker frozen
    // for 10 s makes it give up.
    const kafka = createKafka(config, logger, 'frozen', { retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 500 }, requestTimeout: 1500 });
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    const symbol = randomSymbol();
    const values: PriceUpdate[] = Array.from({ length: 4000 }, (_, i) => bar(`${symbol}${i % 4}`, i, 100 + i / 100));
    try {
      await ensureTopics(kafka, config, [topic]);
      await publisher.connect();
      await publisher.send(topic, values.slice(0, 1000), { source: 'synthetic' });

      const node = cluster.nodes[0]!;
      process.kill(node.pid, 'SIGSTOP');
      const sending = publisher.send(topic, values.slice(1000), { source: 'synthetic' });
      await sleep(10_000);
      process.kill(node.pid, 'SIGCONT');
      await sending;

      expect(warnings.length).toBeGreaterThan(0); // the publisher sent again
      const [main] = await describeTopics(kafka, config, [topic]);
      expect(main?.records).toBe(values.length); // and the broker wrote each record once
    } finally {
      process.kill(cluster.nodes[0]!.pid, 'SIGCONT');
      await publisher.disconnect().catch(() => undefined);
      await cluster.close();
    }
  }, 120_000);
});
