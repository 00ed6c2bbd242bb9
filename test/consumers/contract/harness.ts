// A sink group under test, against the real Kafka, registry and store: every topic it reads is an isolated copy
// (random names, deleted at the end), its group id is random, and its store is reached through a TCP proxy the test
// can cut. Call sinkUnderTest() inside a describe: it registers the beforeAll/afterAll that set it up and tear it down.
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { groupIdOf, type SinkName } from '../../../consumers/catalog.ts';
import type { RunnerHooks } from '../../../consumers/runner.ts';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { totalLag } from '../../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde, type Serde } from '../../../lib/serde.ts';
import type { GraphMutation, MarketEvent, PriceFeatures, PriceUpdate } from '../../../schemas/types.generated.ts';
import { ensureTopics } from '../../../topics/admin.ts';
import { graphMutations, marketEvents, priceFeatures, priceUpdates, withName, type TopicDef } from '../../../topics/index.ts';
import { deleteTestTopics, randomName, readDlq, testConfig, testKafka, testLogger, waitFor, type DeadLetterRead } from '../../helpers/index.ts';
import { replay as replayGroup } from '../../../ops/replay.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';

export interface IsolatedTopics {
  prices: TopicDef<PriceUpdate>;
  events: TopicDef<MarketEvent>;
  mutations: TopicDef<GraphMutation>;
  features: TopicDef<PriceFeatures>;
}
export type TopicKey = keyof IsolatedTopics;

/** The configuration variable that points each sink at its store (the enricher's and the features group's are PostgreSQL). */
const STORE_URL = {
  postgres: 'POSTGRES_URL', redis: 'REDIS_URL', neo4j: 'NEO4J_URL', enricher: 'POSTGRES_URL', features: 'POSTGRES_URL',
} as const satisfies Record<SinkName, keyof Config>;

export interface SinkUnderTest {
  readonly name: SinkName;
  /** The group's configuration: random group prefix, its store reached through `proxy`. */
  readonly config: Config;
  /** The configuration without the proxy, for probes reading the store directly. */
  readonly base: Config;
  readonly kafka: Kafka;
  readonly serde: Serde;
  readonly publisher: Publisher;
  readonly topics: IsolatedTopics;
  /** Between the sink and its store: cut() takes the store "down" for the sink only. */
  readonly proxy: TcpProxy;
  readonly groupId: string;
  /** Starts the group (no-op while it runs). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the group, rewinds its offsets on `topic` to the earliest, and starts it again: a replay of the whole topic. */
  replay(topic: TopicKey): Promise<void>;
  lag(topic: TopicKey): Promise<number>;
  /** The group's committed offset per partition of `topic` (admin.fetchOffsets; '-1' where it never committed). */
  committed(topic: TopicKey): Promise<Record<number, string>>;
  /** Failed attempts so far (store writes, decodes) the group retried on `topic`: each one means it fetched records it could not finish. */
  retries(topic: TopicKey): number;
  /** Writes on `topic` the store refused so far as older than what it holds (WriteResult.stale, as the runner reports it). */
  stale(topic: TopicKey): number;
  /** Waits until the group has consumed (written or dead-lettered) everything on `topic`. */
  settle(topic: TopicKey, timeoutMs?: number): Promise<void>;
  /** Sends records as given (bytes, or null for a tombstone), with no headers and no encoding, partitioned as the publisher does. */
  sendRaw(topic: TopicKey, messages: { key: string; value: Buffer | null }[]): Promise<void>;
  /** Dead letters of `topic` keyed by one of `keys`; waits for `expected` of them (0: what is there). */
  deadLetters(topic: TopicKey, keys: readonly string[], expected: number): Promise<DeadLetterRead[]>;
}

export function sinkUnderTest(name: SinkName, opts: { config?: () => Partial<Config> } = {}): SinkUnderTest {
  const base = testConfig();
  const kafka = testKafka(base, randomName(`contract-${name}`));
  const logger = testLogger(`${name}-contract`);
  const topics: IsolatedTopics = {
    prices: withName(priceUpdates, randomName('test-prices')),
    events: withName(marketEvents, randomName('test-events')),
    mutations: withName(graphMutations, randomName('test-graph')),
    features: withName(priceFeatures, randomName('test-features')),
  };
  let config: Config | undefined;
  let serde: Serde | undefined;
  let publisher: Publisher | undefined;
  let proxy: TcpProxy | undefined;
  let running: RunningSinks | undefined;
  let admin: Promise<Admin> | undefined;
  const retried = new Map<string, number>();
  const refused = new Map<string, number>();
  const hooks: RunnerHooks = {
    onRetry: (e) => { retried.set(e.topic, (retried.get(e.topic) ?? 0) + 1); },
    onWritten: (e) => { refused.set(e.topic, (refused.get(e.topic) ?? 0) + (e.stale ?? 0)); },
  };
  const ready = <T>(v: T | undefined): T => { if (v === undefined) throw new Error('sinkUnderTest used outside its describe (before beforeAll)'); return v; };

  beforeAll(async () => {
    const variable = STORE_URL[name];
    const target = new URL(base[variable]);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    target.port = String(proxy.port);
    config = {
      ...base, KAFKA_GROUP_PREFIX: randomName('test'), LOG_LEVEL: 'warn', [variable]: target.toString(), SINK_RETRY_MAX_MS: 1000,
      // The fixtures' bars are months old and price:{symbol}:latest lives from a bar's end: a margin of years keeps them live.
      REDIS_LATEST_TTL_SECONDS: 400_000_000, ...opts.config?.(),
    };
    await ensureTopics(kafka, config, Object.values(topics));
    serde = createSerde(config);
    publisher = createPublisher({ kafka, serde, logger });
    await publisher.connect();
  });
  afterAll(async () => {
    await sut.stop();
    await (await admin)?.disconnect();
    await publisher?.disconnect();
    await proxy?.close();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  const sut: SinkUnderTest = {
    name, base, kafka, topics,
    get config() { return ready(config); },
    get serde() { return ready(serde); },
    get publisher() { return ready(publisher); },
    get proxy() { return ready(proxy); },
    get groupId() { return groupIdOf(ready(config), name); },
    async start() { running ??= await startSinks({ config: ready(config), logger, names: [name], topics, hooks }); },
    async stop() { await running?.stop(); running = undefined; },
    async replay(topic) {
      await sut.stop();
      await replayGroup(kafka, { groupId: sut.groupId, topics: [topics[topic].name], target: { kind: 'earliest' } });
      await sut.start();
    },
    lag: (topic) => totalLag(kafka, sut.groupId, [topics[topic].name]),
    async committed(topic) {
      admin ??= (async () => { const a = kafka.admin(); await a.connect(); return a; })();
      const [offsets] = await (await admin).fetchOffsets({ groupId: sut.groupId, topics: [topics[topic].name] });
      return Object.fromEntries((offsets?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    retries: (topic) => retried.get(topics[topic].name) ?? 0,
    stale: (topic) => refused.get(topics[topic].name) ?? 0,
    async settle(topic, timeoutMs = 60_000) {
      await waitFor(async () => (await sut.lag(topic)) === 0, { what: `${name} to consume everything on ${topics[topic].name}`, timeoutMs });
    },
    sendRaw: (topic, messages) => ready(publisher).sendRaw(topics[topic].name, messages), // keyed like the publisher's sends: same key, same partition
    deadLetters: (topic, keys, expected) => readDlq(kafka, topics[topic].dlq, keys, expected),
  };
  return sut;
}
