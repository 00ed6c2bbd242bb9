// The contract every price sink must pass, against the real Kafka, registry and store:
// materializes, redelivery changes nothing, an older record never overwrites a newer latest,
// bad records go to the DLQ while the good ones after them land, and a store outage pauses the group without skipping.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf, type SinkName } from '../../consumers/registry.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { randomName, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

export interface StoreProbe {
  /** Which config variable points the sink at the store, and how to rewrite it to go through a proxy. */
  urlVariable: 'POSTGRES_URL' | 'REDIS_URL' | 'NEO4J_URL';
  /** Everything the sink materialized for these symbols, in a canonical form (deep-equal comparable). */
  snapshot(symbols: string[]): Promise<unknown>;
  /** How many bars of a symbol are materialized (for a sink keeping only the latest: 1 once anything landed). */
  count(symbol: string): Promise<number>;
  /** The latest close the store shows for a symbol, or null. */
  latestClose(symbol: string): Promise<number | null>;
  close(): Promise<void>;
}

export const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5, 14, 0, 0);

export function bar(symbol: string, i: number, close: number, over: Partial<PriceUpdate> = {}): PriceUpdate {
  return { symbol, interval: '1h', eventTime: T0 + i * HOUR, open: close - 1, high: close + 2, low: close - 2, close, volume: 1000 + i, source: 'synthetic', ingestTime: T0 + i * HOUR + 5000, quality: 1, ...over };
}

export function randomSymbol(): string {
  return `T${randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase()}`;
}

export function sinkContract(name: Exclude<SinkName, 'enricher'>, openProbe: (config: Config) => Promise<StoreProbe>, opts: { keepsHistory: boolean }) {
  describe(`${name} sink contract`, () => {
    const base = loadConfig();
    const logger = testLogger('sink-contract');
    const kafka = testKafka(base, 'sink-contract');
    let topic: TopicDef<PriceUpdate>;
    let config: Config;
    let proxy: TcpProxy;
    let probe: StoreProbe;
    let publisher: Publisher;
    let sinks: RunningSinks | undefined;
    // The sink's other topics are isolated too, so the group reads only what this suite produced.
    const others = { events: withName(marketEvents, randomName('test-events')), mutations: withName(graphMutations, randomName('test-graph')) };
    const start = async () => { sinks = await startSinks({ config, logger, names: [name], topics: { prices: topic, ...others } }); };
    const stop = async () => { await sinks?.stop(); sinks = undefined; };

    beforeAll(async () => {
      topic = withName(priceUpdates, randomName('test-prices'));
      const target = new URL(base[probeVariable(name)]);
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
      target.port = String(proxy.port);
      config = { ...base, KAFKA_GROUP_PREFIX: randomName('test'), [probeVariable(name)]: target.toString(), SINK_RETRY_MAX_MS: 1000, REDIS_LATEST_TTL_SECONDS: 3600 };
      probe = await openProbe(base);
      await ensureTopics(kafka, config, [topic]);
      publisher = createPublisher({ kafka, serde: createSerde(config), logger });
      await publisher.connect();
    });
    afterAll(async () => {
      await stop();
      await publisher?.disconnect();
      await probe?.close();
      await proxy?.close();
    });

    it('materializes every record, and redelivering the same records changes nothing', async () => {
      const [a, b] = [randomSymbol(), randomSymbol()];
      const records = [...Array(30).keys()].flatMap((i) => [bar(a, i, 100 + i), bar(b, i, 200 + i)]);
      await publisher.send(topic, records, { source: 'test' });
      await start();
      await waitFor(async () =>
        (await probe.latestClose(a)) === 129 && (await probe.latestClose(b)) === 229 && (!opts.keepsHistory || ((await probe.count(a)) === 30 && (await probe.count(b)) === 30)),
      { what: `${name} to materialize 30 bars of ${a} and ${b}`, timeoutMs: 60_000 });
      const before = await probe.snapshot([a, b]);

      // Redelivery: the same records again, plus a rewind of the group to earliest (replay of the whole topic).
      await publisher.send(topic, records, { source: 'test' });
      await stop();
      const admin = kafka.admin();
      await admin.connect();
      await admin.resetOffsets({ groupId: groupIdOf(config, name), topic: topic.name, earliest: true });
      await admin.disconnect();
      await start();
      await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), [topic.name])) === 0, { what: 'the group to catch up after the rewind', timeoutMs: 60_000 });
      expect(await probe.snapshot([a, b])).toEqual(before);
    });

    it('never lets an older record overwrite a newer latest', async () => {
      const s = randomSymbol();
      await publisher.send(topic, [bar(s, 10, 110)], { source: 'test' });
      await waitFor(async () => (await probe.latestClose(s)) === 110, { what: 'the newer bar' });
      await publisher.send(topic, [bar(s, 2, 102, { source: 'backfill' })], { source: 'test' });
      if (opts.keepsHistory) await waitFor(async () => (await probe.count(s)) === 2, { what: 'the older bar in the history' });
      else await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), [topic.name])) === 0, { what: 'the group to pass the older bar' });
      expect(await probe.latestClose(s)).toBe(110);
    });

    it('sends undecodable bytes and an invalid bar to the DLQ with the reason, and materializes the good records after them', async () => {
      const s = randomSymbol();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: topic.name, messages: [{ key: s, value: Buffer.from('not avro at all') }] });
      await producer.disconnect();
      await publisher.send(topic, [bar(s, 1, 50, { high: 10, low: 60 })], { source: 'test' }); // high < low
      await publisher.send(topic, [bar(s, 2, 52), bar(s, 3, 53)], { source: 'test' });
      await waitFor(async () => (await probe.latestClose(s)) === 53, { what: 'the good records after the bad ones' });
      const dead = await readDlq(kafka, topic.dlq, s, 2);
      expect(dead.map((d) => d['error-class'])).toEqual(expect.arrayContaining(['DecodeError', 'ValidationError']));
      for (const d of dead) {
        expect(d['original-topic']).toBe(topic.name);
        expect(d['consumer-group']).toBe(groupIdOf(config, name));
        expect(d['error-message']).toBeTruthy();
      }
      expect(dead.find((d) => d['error-class'] === 'ValidationError')!['error-message']).toMatch(/high|low/i);
    });

    it('pauses while the store is down and resumes without skipping or dead-lettering', async () => {
      const s = randomSymbol();
      proxy.cut();
      await publisher.send(topic, [...Array(20).keys()].map((i) => bar(s, i, 300 + i)), { source: 'test' });
      // While the store is unreachable the group must not commit past the unwritten records.
      await new Promise((r) => setTimeout(r, 3000));
      expect(await totalLag(kafka, groupIdOf(config, name), [topic.name])).toBeGreaterThan(0);
      proxy.restore();
      await waitFor(async () => (await probe.latestClose(s)) === 319 && (!opts.keepsHistory || (await probe.count(s)) === 20),
        { what: 'the records written once the store is back', timeoutMs: 90_000 });
      expect(await readDlq(kafka, topic.dlq, s, 0)).toEqual([]);
      await waitFor(async () => (await totalLag(kafka, groupIdOf(config, name), [topic.name])) === 0, { what: 'lag 0 after recovery' });
    });
  });
}

function probeVariable(name: Exclude<SinkName, 'enricher'>) {
  return ({ postgres: 'POSTGRES_URL', redis: 'REDIS_URL', neo4j: 'NEO4J_URL' } as const)[name];
}

/** DLQ records with this key, as header maps; waits for `expected` of them (0 = read what is there). */
export async function readDlq(kafka: Kafka, dlq: string, key: string, expected: number): Promise<Record<string, string>[]> {
  const consumer = kafka.consumer({ groupId: randomName('dlq-reader') });
  const found: Record<string, string>[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: dlq, fromBeginning: true });
  const admin = kafka.admin();
  await admin.connect();
  const end = await admin.fetchTopicOffsets(dlq);
  await admin.disconnect();
  let seen = 0;
  const total = end.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  await consumer.run({
    eachMessage: async ({ message }) => {
      seen++;
      if (message.key?.toString() !== key) return;
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) h[k] = String(v);
      found.push(h);
    },
  });
  await waitFor(() => found.length >= expected && seen >= total, { what: `${expected} DLQ records for ${key}` });
  await consumer.disconnect();
  return found;
}
