// The enricher's graph mutations as the neo4j sink orders them, and Claude asked once per event across members, against
// the real Kafka, registry and PostgreSQL (Claude: the local fake, test/helpers/fake-anthropic.ts): every mutation has
// the time of the market-events record it came from (not the enricher's clock) and that record's version in
// `marketstream-source-version`; two members given the same event at once make one Claude request; a member finds a
// claim whose holder died and takes it over once it expires.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnricher } from '../../../consumers/enricher/sink.ts';
import { startSinks } from '../../../consumers/start.ts';
import type { Sink, SinkRecord } from '../../../consumers/types.ts';
import type { Config } from '../../../lib/config.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { headersToStrings, RecordHeaders } from '../../../lib/record-headers.ts';
import { createSerde, type Serde } from '../../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../../lib/stores/postgres.ts';
import type { GraphMutation, MarketEvent } from '../../../schemas/types.generated.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../../topics/index.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { deleteEventRows, deleteTestTopics, newEvent, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const logger = testLogger('enricher-versions');
const base = testConfig({ ANTHROPIC_API_KEY: '' });
const config: Config = { ...base, KAFKA_GROUP_PREFIX: randomName('test-ev'), LOG_LEVEL: 'warn', SINK_RETRY_MAX_MS: 1000 };
const kafka = testKafka(config);
const topics = {
  prices: withName(priceUpdates, randomName('test-prices')),
  events: withName(marketEvents, randomName('test-events')),
  mutations: withName(graphMutations, randomName('test-mutations')),
};
const symbols = [randomSymbol(), randomSymbol()];
const ids: string[] = [];
let pool: Pool;
let driver: Driver;
let serde: Serde;
let publisher: Publisher;

/** An event about both symbols; its id is in the headline, so a Claude request names its event. */
const event = (over: Partial<MarketEvent> = {}) => {
  const id = randomName('evt');
  const e = newEvent({ id, symbols, headline: `${symbols[0]} and ${symbols[1]} announce a merger (${id})`, summary: null, url: null, ...over });
  ids.push(e.id);
  return e;
};

beforeAll(async () => {
  pool = createPgPool(base, { max: 2 });
  await migrate(pool);
  driver = createNeo4jDriver(base);
  serde = createSerde(config);
  publisher = createPublisher({ kafka, serde, logger });
  await publisher.connect();
});
afterAll(async () => {
  await publisher?.disconnect();
  await driver?.executeQuery('MATCH (n) WHERE (n:MarketEvent AND n.id IN $ids) OR (n:Company AND n.symbol IN $symbols) DETACH DELETE n',
    { ids, symbols }).catch(() => {});
  await driver?.close();
  if (pool) {
    await deleteEventRows(pool, ids);
    await pool.query('DELETE FROM classification_claims WHERE event_id = ANY($1)', [ids]).catch(() => {});
    await pool.query('DELETE FROM claude_budget_spend WHERE scope = $1', [`${config.KAFKA_GROUP_PREFIX}.enricher`]).catch(() => {});
    await pool.query('DELETE FROM claude_budget_scopes WHERE scope = $1', [`${config.KAFKA_GROUP_PREFIX}.enricher`]).catch(() => {});
  }
  await pool?.end();
  await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
});

describe('enricher: what the graph orders its mutations by', () => {
  it('gives each mutation the time of its market-events record and that record\'s version in marketstream-source-version', async () => {
    const e = event();
    const running = await startSinks({ config, logger, names: ['enricher'], topics });
    try {
      await publisher.send(topics.events, [e], { source: 'test' });
      // Published later than the event record: the mutations must not take the time they are made at.
      await new Promise((r) => setTimeout(r, 50));
      const first = await readTopic(kafka, topics.mutations.name, { until: (m) => m.length >= 3, what: 'the node and two AFFECTS' });
      await publisher.sendTombstone(topics.events, e.id, { source: 'test' });
      const all = await readTopic(kafka, topics.mutations.name, { until: (m) => m.length >= 6, what: 'two AFFECTS deletes and the node tombstone' });
      const sourceRecords = await readTopic(kafka, topics.events.name, { until: (m) => m.length >= 2 });
      const [published, withdrawn] = sourceRecords;
      const version = (r: typeof published) => `${r!.partition}:${r!.offset}`;

      const decode = async (m: (typeof all)[number]) => (m.value ? (await serde.decode(topics.mutations, m.value)).value as GraphMutation : null);
      for (const m of first) {
        expect((await decode(m))?.mutationTime).toBe(Number(published!.timestamp));
        expect(headersToStrings(m.headers)[RecordHeaders.sourceVersion]).toBe(version(published));
      }
      // The mutations topic has several partitions: a read returns them in no fixed order across partitions.
      const at = (m: { partition: number; offset: string }) => `${m.partition}:${m.offset}`;
      const seen = new Set(first.map(at));
      const rest = all.filter((m) => !seen.has(at(m)));
      expect(rest).toHaveLength(3);
      for (const m of rest) {
        expect(headersToStrings(m.headers)[RecordHeaders.sourceVersion]).toBe(version(withdrawn));
        const v = await decode(m);
        // A DeleteRelationship has the withdrawal's time; the node's tombstone has it as its Kafka timestamp.
        if (v) expect(v.mutationTime).toBe(Number(withdrawn!.timestamp));
        else expect(m.timestamp).toBe(withdrawn!.timestamp);
      }
      expect(Number(withdrawn!.timestamp)).toBeGreaterThanOrEqual(Number(published!.timestamp));
    } finally {
      await running.stop();
    }
  });
});

describe('enricher: one Claude request per event across members', () => {
  let fake: FakeAnthropic;
  const open: Sink[] = [];
  beforeAll(async () => { fake = await startFakeAnthropic(); });
  afterAll(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await fake?.close();
  });

  /** A member of the enricher group: its own PostgreSQL pool and classifier, the shared publisher. */
  async function member(over: Partial<Config> = {}): Promise<Sink> {
    const sink = createEnricher({ ...config, ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.url, CLAUDE_MAX_RETRIES: 1, ...over },
      { publisher, topics, logger });
    await sink.connect();
    open.push(sink);
    return sink;
  }
  const asRecord = (e: MarketEvent, offset: number): SinkRecord<MarketEvent> =>
    ({ value: e, key: e.id, timestamp: Date.now(), topic: topics.events.name, partition: 0, offset: String(offset), version: offset });
  const requestsAbout = (id: string) => fake.requests.filter((r) => JSON.stringify(r.body).includes(id)).length;
  const answer = () => ({
    ...toolUseResponse({ type: 'merger_acquisition', sentiment: 'positive', sentiment_score: 0.7,
      affected: [{ symbol: symbols[0], relevance: 0.9 }], rationale: 'A merger.' }), delayMs: 400,
  });

  it('two members given the same event at once ask Claude once', async () => {
    fake.setDefault(answer);
    const [a, b] = [await member(), await member()];
    const e = event();
    // The same record handed to two members at once, as when a member still writes a partition it lost.
    await Promise.all([a.handlers[0]!.writeBatch([asRecord(e, 7)]), b.handlers[0]!.writeBatch([asRecord(e, 7)])]);
    expect(requestsAbout(e.id)).toBe(1);
    const { rows } = await pool.query('SELECT classifier FROM event_classifications WHERE event_id = $1', [e.id]);
    expect(rows).toEqual([{ classifier: 'claude' }]);
    expect((await pool.query('SELECT 1 FROM classification_claims WHERE event_id = $1', [e.id])).rows).toEqual([]); // released
  });

  it('takes over the claim of a member that died, once it expires, and asks Claude then', async () => {
    fake.setDefault(answer);
    const e = event();
    await pool.query(`INSERT INTO classification_claims (event_id, claimed_by, expires_at) VALUES ($1, 'a member that died', now() + interval '1.5 seconds')`,
      [e.id]);
    const m = await member({ ENRICHER_CLAIM_TTL_MS: 1000 });
    const started = Date.now();
    await m.handlers[0]!.writeBatch([asRecord(e, 3)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // waited for the claim to expire
    expect(requestsAbout(e.id)).toBe(1);
    await waitFor(async () => (await pool.query('SELECT 1 FROM event_classifications WHERE event_id = $1', [e.id])).rows.length === 1,
      { what: 'the classification stored' });
  });
});
