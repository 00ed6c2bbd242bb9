// Kafka as a three-broker cluster, with faults caused for real on a cluster of the test's own (the shared broker is never
// touched): the broker leading most price-updates partitions SIGKILLed mid-stream; producers started 5 s after a
// broker was SIGKILLed, while the metadata still names it as a leader; and a broker frozen long enough for kafkajs to
// give up on a send, which the publisher then sends again. The shared Schema Registry and PostgreSQL serve.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runBrokerKill } from '../../bench/faults/broker-kill.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool, migrate } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { describeTopics, ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { bar, randomName, randomSymbol, testConfig, waitFor } from '../helpers/index.ts';
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

  it('producers, a sink and an offsets read started 5 s after a leader was SIGKILLed (not yet replaced) ride it out: ' +
    'everything published and written', async () => {
    const started = Date.now();
    const cluster = await startTestKafkaCluster({ nodes: 3 });
    say(`3-broker cluster up in ${Date.now() - started} ms`);
    const config = {
      ...testConfig({ KAFKA_BROKERS: cluster.brokers.join(','), TOPIC_REPLICATION_FACTOR: '3', TOPIC_MIN_INSYNC_REPLICAS: '2' }), TOPIC_PARTITIONS: 6,
    };
    const logger = createLogger({ level: 'fatal' });
    const topic = withName(priceUpdates, randomName('test-late-start'));
    const events = withName(marketEvents, randomName('test-late-start-events'));
    const symbol = randomSymbol();
    const pool = createPgPool(config, { max: 2 });
    let sinks: RunningSinks | undefined;
    try {
      await migrate(pool);
      const setup = createKafka(config, logger, 'setup');
      await ensureTopics(setup, config, [topic]);
      const admin = setup.admin();
      await admin.connect();
      const leaders = (await admin.fetchTopicMetadata({ topics: [topic.name] })).topics[0]!.partitions.map((p) => p.leader);
      await admin.disconnect();
      const victim = [1, 2, 3].sort((a, b) => leaders.filter((l) => l === b).length - leaders.filter((l) => l === a).length)[0]!;
      await cluster.kill(victim, 'SIGKILL');
      await sleep(5000);

      // Each as a command would start: its own client (every broker listed), topics ensured, then publish. Five at once, so
      // that each of them meets the dead broker in its metadata (kafkajs picks a broker of the pool at random).
      const values = Array.from({ length: 5 }, (_, k) => Array.from({ length: 120 }, (_, i) => bar(`${symbol}${k}${i % 12}`, i, 100 + i)));
      const offsetsRead = (async () => {
        const late = createKafka(config, logger, 'late-admin').admin();
        await late.connect();
        try {
          return await late.fetchTopicOffsets(topic.name); // ListOffsets goes to each partition's leader: one is dead
        } finally {
          await late.disconnect();
        }
      })();
      const t0 = Date.now();
      const sink = startSinks({ config: { ...config, KAFKA_GROUP_PREFIX: randomName('test-late-start') }, logger, names: ['postgres'],
        topics: { prices: topic, events } });
      const producers = Promise.all(values.map(async (v, k) => {
        const kafka = createKafka(config, logger, `late-producer-${k}`);
        const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
        try {
          await ensureTopics(kafka, config, [topic]);
          await publisher.connect();
          await publisher.send(topic, v, { source: 'synthetic' });
        } finally {
          await publisher.disconnect();
        }
      }));
      const [offsets, , running] = await Promise.all([offsetsRead, producers, sink]);
      sinks = running;
      say(`late producers done ${Date.now() - t0} ms after they started`);
      expect(offsets).toHaveLength(6);
      const [main] = await describeTopics(createKafka(config, logger, 'check'), config, [topic]);
      expect(main?.records).toBe(5 * 120);
      const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol LIKE $1', [`${symbol}%`])).rows[0].count);
      await waitFor(async () => (await rows()) === 5 * 120, { what: 'every bar in PostgreSQL', timeoutMs: 60_000 });
      say(`the late sink wrote every bar ${Date.now() - t0} ms after it started`);
    } finally {
      await sinks?.stop();
      await cluster.close();
      await pool.query('DELETE FROM price_data WHERE symbol LIKE $1', [`${symbol}%`]).catch(() => undefined);
      await pool.end();
    }
  }, 180_000);

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
