// A Schema Registry that cannot answer must never be taken for an unknown schema. Caused for real, with a private
// registry (the same AxonOps binary as the stack's, on the same PostgreSQL database so ids agree):
// - the registry killed: a fresh postgres-sink member decodes every record from the schemas kept on disk;
// - the registry answering 404 because its storage (PostgreSQL, reached through a TCP proxy) is down: a fresh member
//   with no schema kept waits, dead-letters nothing, and lands everything once the storage is back.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Consumer } from 'kafkajs';
import type { RunnerHooks } from '../../consumers/runner.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startTestRegistry } from '../helpers/registry.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const BARS = 300;

/**
 * What the members of a group did, from kafkajs's instrumentation events: when each joined, when batches of `topic`
 * started, and when a failed attempt on it was retried.
 */
function watchMembers(topic: string) {
  const joins = new Map<Consumer, number[]>();
  const batches: number[] = [];
  const retries: number[] = [];
  const hooks: RunnerHooks = {
    onMember({ consumer }) {
      joins.set(consumer, []);
      consumer.on(consumer.events.GROUP_JOIN, (e) => { joins.get(consumer)!.push(e.timestamp); });
      consumer.on(consumer.events.START_BATCH_PROCESS, (e) => { if (e.payload.topic === topic) batches.push(e.timestamp); });
    },
    onRetry(e) { if (e.topic === topic) retries.push(Date.now()); },
  };
  return {
    hooks,
    count: () => joins.size,
    /** A batch of the topic started at or after `since`, and a failed attempt was retried after it. */
    fetchedAndRetried: (since: number) => {
      const fetched = batches.find((t) => t >= since);
      return fetched !== undefined && retries.some((t) => t >= fetched);
    },
    /** The time of the last join when every member joined at or after `since`, else undefined. */
    allJoinedSince: (since: number) => {
      const last = [...joins.values()].map((ts) => ts.filter((t) => t >= since).at(-1));
      return last.length > 1 && last.every((t) => t !== undefined) ? Math.max(...(last as number[])) : undefined;
    },
  };
}

describe('schema registry outages', () => {
  const base = testConfig();
  const logger = testLogger('registry-outage-test');
  const kafka = testKafka(base);
  const pool = createPgPool(base, { max: 1 });
  const topics: string[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];

  afterAll(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    await pool.end();
    await deleteTestTopics(kafka, topics);
  });

  async function scenario(registryUrl: string) {
    const topic = withName(priceUpdates, randomName('test-registry'));
    topics.push(topic.name, topic.dlq);
    // A short session (heartbeats every second): members see a rebalance, and rejoin, within about a second.
    const config = testConfig({
      SCHEMA_REGISTRY_URL: registryUrl, SCHEMA_CACHE_DIR: mkdtempSync(path.join(tmpdir(), 'schemas-')), KAFKA_GROUP_PREFIX: randomName('test-registry'),
      KAFKA_SESSION_TIMEOUT_MS: '10000',
    });
    await ensureTopics(kafka, config, [topic]);
    const symbol = randomSymbol();
    const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = $1', [symbol])).rows[0].count);
    const start = async (instances = 1, hooks?: RunnerHooks) => {
      const s = await startSinks({ config, logger, names: ['postgres'], topics: { prices: topic }, instances, hooks });
      cleanup.push(() => s.stop());
      return s;
    };
    return { topic, config, symbol, rows, start };
  }

  /** A publisher whose encoder is ready (schema registered through the main registry), so it keeps publishing without one. */
  async function readyPublisher(s: { topic: typeof priceUpdates }): Promise<Publisher> {
    const publisher = createPublisher({ kafka, serde: createSerde(base), logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    await createSerde(base).encoder(s.topic);
    return publisher;
  }

  it('killed: a fresh member decodes from the schemas it kept; 0 in the DLQ, 0 lost', async () => {
    const registry = await startTestRegistry(base);
    cleanup.push(() => registry.kill());
    const s = await scenario(registry.url);
    const publisher = await readyPublisher(s);

    // A first member reads the first half through the registry (and keeps the schema on disk).
    await publisher.send(s.topic, Array.from({ length: BARS / 2 }, (_, i) => bar(s.symbol, i, 100 + i)), { source: 'test' });
    const first: RunningSinks = await s.start();
    await waitFor(async () => (await s.rows()) === BARS / 2, { what: 'the first half through the registry', timeoutMs: 60_000 });
    await first.stop();

    await registry.kill();
    await publisher.send(s.topic, Array.from({ length: BARS / 2 }, (_, i) => bar(s.symbol, BARS / 2 + i, 200 + i)), { source: 'test' });
    await s.start(); // a fresh process's serde: nothing in memory, the registry gone
    await waitFor(async () => (await s.rows()) === BARS, { what: 'the second half with the registry killed', timeoutMs: 60_000 });
    expect(await readTopic(kafka, s.topic.dlq)).toHaveLength(0);
  });

  it('answering 404 while its storage is down, members joining meanwhile: nothing is dead-lettered, everything lands once it is back', async () => {
    const pgUrl = new URL(base.POSTGRES_URL);
    const storage = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    cleanup.push(() => storage.close());
    const registry = await startTestRegistry(base, { postgresPort: storage.port });
    cleanup.push(() => registry.kill());
    const s = await scenario(registry.url);
    const publisher = await readyPublisher(s);
    const id = await createSerde(base).schemaId(s.topic);

    storage.cut();
    // The precondition, as operators saw it: the registry says "not found" for an id it has.
    const answer = await fetch(`${registry.url}/schemas/ids/${id}`);
    expect(answer.status).toBe(404);

    await publisher.send(s.topic, Array.from({ length: BARS }, (_, i) => bar(s.symbol, i, 100 + i)), { source: 'test' });
    const members = watchMembers(s.topic.name);
    await s.start(2, members.hooks); // fresh members, while records wait: they fetch, fail and retry
    await waitFor(() => members.fetchedAndRetried(0), { what: 'a member to fetch the records and retry their decoding', timeoutMs: 60_000 });
    const joining = Date.now();
    await s.start(1, members.hooks); // one more joins while the others are retrying: the group rebalances
    const rejoined = await waitFor(() => members.allJoinedSince(joining), { what: 'all 3 members to join the rebalanced group', timeoutMs: 60_000 });
    await waitFor(() => members.fetchedAndRetried(rejoined), { what: 'the new owner to fetch the records and retry', timeoutMs: 60_000 });
    expect(members.count()).toBe(3);
    expect(await s.rows()).toBe(0);
    expect(await readTopic(kafka, s.topic.dlq)).toHaveLength(0);

    storage.restore();
    await waitFor(async () => (await s.rows()) === BARS, { what: 'every record once the registry storage is back', timeoutMs: 120_000 });
    expect(await readTopic(kafka, s.topic.dlq)).toHaveLength(0);
  });
});
