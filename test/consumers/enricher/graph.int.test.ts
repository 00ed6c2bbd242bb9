// The enricher and the neo4j-sink together, against the real Kafka, registry, PostgreSQL and Neo4j on isolated topics:
// a market event becomes (:MarketEvent)-[:AFFECTS {relevance}]->(:Company:Stock) in the graph, and withdrawing it
// (a market-events tombstone) removes the node and its relationships. Random symbols keep the graph's real companies untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde } from '../../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import { createPgPool, type Pool } from '../../../lib/stores/postgres.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../../topics/index.ts';
import { deleteEventRows, deleteTestTopics, newEvent, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const logger = testLogger('enricher-graph');
const base = testConfig({ ANTHROPIC_API_KEY: '' });
const config: Config = { ...base, KAFKA_GROUP_PREFIX: randomName('test'), LOG_LEVEL: 'warn', SINK_RETRY_MAX_MS: 1000 };
const kafka = testKafka(config);
const topics = {
  prices: withName(priceUpdates, randomName('test-prices')),
  events: withName(marketEvents, randomName('test-events')),
  mutations: withName(graphMutations, randomName('test-mutations')),
};
const symbols = [randomSymbol(), randomSymbol()];
const id = randomName('evt');
let driver: Driver;
let pool: Pool;
let publisher: Publisher;
let running: RunningSinks | undefined;

async function graph() {
  const { records } = await driver.executeQuery(
    `MATCH (e:MarketEvent {id: $id}) OPTIONAL MATCH (e)-[r:AFFECTS]->(c:Company)
     RETURN e.type AS type, e.classifier AS classifier, e.headline AS headline, c.symbol AS symbol, r.relevance AS relevance, 'Stock' IN labels(c) AS stock
     ORDER BY symbol`, { id });
  return records.map((r) => r.toObject());
}

beforeAll(async () => {
  driver = createNeo4jDriver(base);
  pool = createPgPool(base, { max: 1 });
  publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  await publisher.connect();
  running = await startSinks({ config, logger, names: ['enricher', 'neo4j'], topics });
});
afterAll(async () => {
  await running?.stop();
  await publisher?.disconnect();
  await driver?.executeQuery(
    `MATCH (n) WHERE (n:MarketEvent AND n.id = $id) OR (n:Company AND n.symbol IN $symbols) OR (n:GraphTombstone AND (n.key CONTAINS $id)) DETACH DELETE n`,
    { id, symbols }).catch(() => {});
  await driver?.close();
  if (pool) await deleteEventRows(pool, [id]);
  await pool?.end();
  await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
});

describe('enricher → graph-mutations → neo4j-sink', () => {
  it('puts the classified event in the graph with AFFECTS to its companies, and takes it out when it is withdrawn', async () => {
    const event = newEvent({ id, symbols, headline: `${symbols[0]} and ${symbols[1]} announce a merger`, summary: null, url: null, category: null });
    await publisher.send(topics.events, [event], { source: 'test' });
    // The event's node and its AFFECTS are keyed differently, so they may arrive in either order (an AFFECTS first
    // creates a bare MarketEvent end node): wait until the graph has converged, not only until the edges exist.
    const rows = await waitFor(async () => { const g = await graph(); return g.length === 2 && g.every((r) => r.symbol && r.type && r.stock) ? g : null; },
      { what: 'the event and its AFFECTS in Neo4j', timeoutMs: 60_000 });
    expect(rows.map((r) => r.symbol)).toEqual([...symbols].sort());
    for (const r of rows) expect({ type: r.type, classifier: r.classifier, headline: r.headline, stock: r.stock }).toEqual({ type: 'merger_acquisition',
      classifier: 'rules', headline: event.headline, stock: true });
    expect(rows.every((r) => typeof r.relevance === 'number' && r.relevance > 0 && r.relevance <= 1)).toBe(true);

    await publisher.sendTombstone(topics.events, id, { source: 'test' });
    await waitFor(async () => (await graph()).length === 0, { what: 'the MarketEvent node deleted', timeoutMs: 60_000 });
    const { records } = await driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols RETURN count(c) AS n', { symbols });
    expect(records[0]?.get('n')).toBe(2); // the companies stay
  });
});
