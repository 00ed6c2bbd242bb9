// Provenance and deletes end to end, against the real Kafka, registry, PostgreSQL and Neo4j on isolated topics, with
// Claude played by the local stand-in: an event from the sample file → enricher → graph-mutations → neo4j-sink, and
// `explain` on its AFFECTS edge prints the graph-mutations record (topic/partition/offset, decoded), the model, tokens,
// cost and the headline; a Company from a profile explained through the CLI. Then the deletes: a market-events
// tombstone removes the row, the MarketEvent node and its AFFECTS, and the tombstones record which records deleted
// them; graph-mutations DeleteRelationship and tombstones remove what they name with the same provenance; replaying
// every group from the earliest offsets changes none of it. Each test makes the event or companies it checks.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExplanation } from '../../cli/explain/format.ts';
import { groupIdOf, type SinkName } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { Config } from '../../lib/config.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../lib/stores/neo4j.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import { explain } from '../../ops/explain/index.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import { parseEventObject, SAMPLE_EVENTS_FILE } from '../../producers/events/file.ts';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { deleteRelationship, long, upsertNode, upsertRelationship } from '../../topics/graph-model.ts';
import { graphMutations, marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { startCli } from '../cli/cli-process.ts';
import { startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../helpers/fake-anthropic.ts';
import { deleteEventRows, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { replay as replayGroup } from '../../ops/replay.ts';

const SINKS: SinkName[] = ['postgres', 'enricher', 'neo4j'];
const topics = {
  prices: withName(priceUpdates, randomName('test-prices')),
  events: withName(marketEvents, randomName('test-events')),
  mutations: withName(graphMutations, randomName('test-graph')),
};
const base = testConfig();
const kafka = testKafka(base, randomName('explain'));
const logger = testLogger('explain');
/** Every event id and ticker the tests made, for the clean-up. */
const ids: string[] = [];
const syms: string[] = [];
const fresh = () => { const s = randomSymbol(); syms.push(s); return s; };

/** The first event of the sample file, under a fresh id and about a fresh ticker (the shared graph's AAPL stays untouched). */
function sampleEvent(sym: string): MarketEvent {
  const first = JSON.parse(readFileSync(SAMPLE_EVENTS_FILE, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  const parsed = parseEventObject({ ...first, id: randomName('evt'), symbols: [sym] }, Date.now());
  if (!parsed.ok) throw new Error(parsed.reason);
  ids.push(parsed.value.id);
  return parsed.value;
}

let fake: FakeAnthropic;
let config: Config;
let publisher: Publisher;
let running: RunningSinks | undefined;
let driver: Driver;
let pool: Pool;

const start = async () => { running ??= await startSinks({ config, logger, names: SINKS, topics }); };
const stop = async () => { await running?.stop(); running = undefined; };
const props = async (cypher: string, params: Record<string, unknown>) =>
  (await driver.executeQuery(cypher, params)).records.map((r) => r.get('p') as Record<string, unknown>);
const tombstone = async (key: string) => (await props('MATCH (t:GraphTombstone {key: $key}) RETURN properties(t) AS p', { key }))[0];
const explainText = async (target: string) => formatExplanation(await explain({ config, kafka, decoder: createRecordDecoder(config), driver, pool }, target));

/** Everything the stores hold for this file's entities: rows, nodes, relationships, tombstones (with provenance). */
async function snapshot(id: string, syms: readonly string[]) {
  const { rows } = await pool.query('SELECT id FROM market_events WHERE id = $1', [id]);
  const nodes = await props('MATCH (n) WHERE n.id = $id OR n.symbol IN $syms ' +
    'OR (n:GraphTombstone AND (n.key CONTAINS $id OR any(s IN $syms WHERE n.key CONTAINS s))) RETURN [labels(n), properties(n)] AS p', { id, syms });
  const rels = await props('MATCH (a)-[x]->(b) WHERE a.id = $id OR a.symbol IN $syms RETURN [type(x), properties(x)] AS p', { id, syms });
  const canon = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
  return { rows, nodes: canon(nodes), rels: canon(rels) };
}

/** End offset of each partition of the events topic. */
async function eventEnds(): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topics.events.name)).map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

/** A sample event about a fresh ticker, published and enriched: its AFFECTS edge is in Neo4j. */
async function enrichedEvent() {
  const sym = fresh();
  const event = sampleEvent(sym);
  const before = await eventEnds();
  await publisher.send(topics.events, [event], { source: 'test' });
  // Where its record went: the one partition that grew.
  const grown = [...(await eventEnds())].filter(([p, end]) => end !== before.get(p));
  expect(grown).toHaveLength(1);
  const at = { partition: grown[0]![0], offset: before.get(grown[0]![0])! };
  const edge = await waitFor(async () =>
    (await props('MATCH (:MarketEvent {id: $id})-[x:AFFECTS]->(:Company {symbol: $s}) RETURN properties(x) AS p', { id: event.id, s: sym }))[0],
    { what: 'the AFFECTS edge in Neo4j', timeoutMs: 60_000 });
  return { sym, event, at, edge };
}

/** Stops the groups, rewinds them to the earliest offsets of their topics, and starts them again: redelivery of everything. */
async function replay(names: readonly SinkName[] = SINKS) {
  await stop();
  for (const name of names) {
    await replayGroup(kafka, {
      groupId: groupIdOf(config, name), topics: [topics.prices.name, topics.events.name, topics.mutations.name], target: { kind: 'earliest' },
    });
  }
  await start();
}

async function settled() {
  await waitFor(async () => {
    for (const name of SINKS) {
      if ((await totalLag(kafka, groupIdOf(config, name), [name === 'neo4j' ? topics.mutations.name : topics.events.name])) > 0) return false;
    }
    return true;
  }, { what: 'every group to catch up', timeoutMs: 60_000 });
}

beforeAll(async () => {
  fake = await startFakeAnthropic();
  // Each event is about one ticker: Claude names the first the article lists.
  fake.setDefault((req) => toolUseResponse({
    type: 'earnings', sentiment: 'positive', sentiment_score: 0.7,
    affected: [{ symbol: /<tickers_listed_by_source>([^<,]+)/.exec(JSON.stringify(req.body))![1]!, relevance: 0.95 }], rationale: 'Earnings beat.',
  }, { inputTokens: 812, outputTokens: 96 }));
  config = {
    ...base, KAFKA_GROUP_PREFIX: randomName('test'), LOG_LEVEL: 'warn', SINK_RETRY_MAX_MS: 1000, ANTHROPIC_API_KEY: 'sk-ant-test', ANTHROPIC_BASE_URL: fake.url,
    CLAUDE_MAX_RETRIES: 1,
  };
  await ensureTopics(kafka, config, Object.values(topics));
  publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  await publisher.connect();
  driver = createNeo4jDriver(config);
  pool = createPgPool(config, { max: 2 });
  await migrate(pool);
  await start();
});

afterAll(async () => {
  await stop();
  await publisher?.disconnect();
  await fake?.close();
  await driver?.executeQuery('MATCH (n) WHERE n.id IN $ids OR n.symbol IN $syms OR (n:GraphTombstone AND any(s IN $ids + $syms WHERE n.key CONTAINS s)) ' +
    'DETACH DELETE n', { ids, syms }).catch(() => {});
  await driver?.close();
  if (pool) await deleteEventRows(pool, ids);
  await pool?.end();
  await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
});

describe('explain: a graph fact traced to its records', () => {
  it('traces the enriched AFFECTS edge of a sample event to its graph-mutations record, the classification and the article', async () => {
    const { sym: SYM, event, at, edge } = await enrichedEvent();
    expect(edge).toMatchObject({
      relevance: 0.95, src_topic: topics.mutations.name, src_origin: 'enricher', src_partition: expect.any(Number), src_offset: expect.any(Number),
      enr_classifier: 'claude', enr_model: 'claude-haiku-5-5', enr_input_tokens: 812, enr_output_tokens: 96, enr_cost_usd: expect.any(Number),
      enr_source_topic: topics.events.name, enr_source_partition: at.partition, enr_source_offset: at.offset, // the event's record
    });
    expect(edge.enr_cost_usd as number).toBeGreaterThan(0);

    const text = await explainText(`${event.id}-AFFECTS-${SYM}`);
    expect(text).toContain(`(${event.id})-[:AFFECTS]->(${SYM})`);
    expect(text).toContain(`made by ${topics.mutations.name} partition ${edge.src_partition} offset ${edge.src_offset} (origin enricher)`);
    expect(text).toMatch(new RegExp(`record ${topics.mutations.name} partition ${edge.src_partition} offset ${edge.src_offset}  ` +
      `key AFFECTS:${event.id}:${SYM} .* schema ${topics.mutations.name}-value`));
    expect(text).toContain('"UpsertRelationship":{"type":"AFFECTS"'); // the decoded mutation
    expect(text).toContain(`enrichment: claude model claude-haiku-5-5, classified `);
    expect(text).toContain(`tokens 812 in / 96 out, cost $${(edge.enr_cost_usd as number).toFixed(6)}`);
    expect(text).toContain(`source article ${event.id}: "${event.headline}"`);
    expect(text).toContain(`record ${topics.events.name} partition `); // the market-events record, decoded
    expect(text).toContain('PostgreSQL market_events: source Sample Wire (sample data)');
    expect(text).toMatch(new RegExp(`PostgreSQL market_events: .*, version ${at.offset}\n`)); // the offset of the event's record

    const byEvent = await explainText(event.id); // the event id: its node and edges
    expect(byEvent).toContain(`(:MarketEvent ${event.id})`);
    expect(byEvent).toContain(`(${event.id})-[:AFFECTS]->(${SYM})`);
  });

  it('explains a Company from its profile record (CLI)', async () => {
    const PA = fresh();
    await publisher.send(topics.mutations, [
      upsertNode('Company', PA, { name: 'Profile Alpha', sector: 'Technology', employees: long(42) }, { origin: 'profile', time: Date.now() }),
    ], { source: 'test' });
    await waitFor(async () => (await props('MATCH (c:Company {symbol: $s}) RETURN properties(c) AS p', { s: PA }))[0]?.src_offset !== undefined,
      { what: 'the profiled company' });
    const cli = startCli(['explain', PA], { LOG_LEVEL: 'warn' });
    const { code } = await cli.exited;
    expect(cli.output()).toContain(`(:Company ${PA})`);
    expect(cli.output()).toMatch(new RegExp(`made by ${topics.mutations.name} partition \\d+ offset \\d+ \\(origin profile\\)`));
    const profile = cli.output().split('\n').find((l) => l.startsWith('company profile (from the record above):'));
    for (const p of ['name="Profile Alpha"', 'sector="Technology"', 'employees="42"']) expect(profile).toContain(p);
    expect(code).toBe(0);
  });
});

describe('deletes end to end, with their provenance', () => {
  it('a market-events tombstone removes the row, the MarketEvent node and its AFFECTS; the tombstones say which records deleted them', async () => {
    const { sym: SYM, event, at } = await enrichedEvent();
    await publisher.sendTombstone(topics.events, event.id, { source: 'test' });
    await waitFor(async () => (await tombstone(`MarketEvent:${event.id}`)) !== undefined
      && (await pool.query('SELECT 1 FROM market_events WHERE id = $1', [event.id])).rowCount === 0,
      { what: 'the event deleted from PostgreSQL and Neo4j', timeoutMs: 60_000 });
    await settled();
    expect((await props('MATCH (n:MarketEvent {id: $id}) RETURN properties(n) AS p', { id: event.id }))).toEqual([]);
    expect((await props('MATCH (:MarketEvent {id: $id})-[x]->() RETURN properties(x) AS p', { id: event.id }))).toEqual([]);
    // no origin: a Kafka tombstone has no value
    expect(await tombstone(`MarketEvent:${event.id}`)).toMatchObject({ src_topic: topics.mutations.name, src_op: 'tombstone' });
    const affects = await tombstone(`AFFECTS:${event.id}:${SYM}`);
    expect(affects).toMatchObject({
      src_topic: topics.mutations.name, src_op: 'DeleteRelationship', src_origin: 'enricher',
      // the market-events tombstone
      enr_source_topic: topics.events.name, enr_source_partition: at.partition, enr_source_offset: at.offset + 1, enr_classifier: 'claude',
    });

    const text = await explainText(event.id);
    expect(text).toContain(`(:MarketEvent ${event.id})  DELETED at`);
    expect(text).toContain(`(${event.id})-[:AFFECTS]->(${SYM})  DELETED at`);
    expect(text).toMatch(new RegExp(`deleted by ${topics.mutations.name} partition \\d+ offset \\d+ \\(origin enricher\\)`));
    expect(text).toContain('(the event was withdrawn by this tombstone)');
    expect(text).toContain(`PostgreSQL market_events: no row (withdrawn by the tombstone at version ${at.offset + 1}, `);

    // Redelivery of everything (every group from the earliest offsets): nothing comes back; the deletes still name the tombstone.
    const before = await snapshot(event.id, [SYM]);
    await replay();
    await settled();
    const after = await snapshot(event.id, [SYM]);
    expect(after.rows).toEqual([]);
    expect(after.rels).toEqual(before.rels);
    // The same nodes and tombstones; the enricher's replay republished the event's deletes, so a tombstone may now name
    // that newer graph-mutations record (a later offset, a later deleted_at) as what deleted it: the same effect.
    const deletedBy = (nodes: string[]) => nodes.map((n) => {
      const [labels, { src_offset: offset, deleted_at: at, ...rest }] = JSON.parse(n) as [string[], Record<string, unknown>];
      return { fact: JSON.stringify([labels, rest]), offset: offset as number | undefined, at: at as number | undefined };
    }).sort((a, b) => a.fact.localeCompare(b.fact));
    const [was, is] = [deletedBy(before.nodes), deletedBy(after.nodes)];
    expect(is.map((n) => n.fact)).toEqual(was.map((n) => n.fact));
    is.forEach((n, i) => {
      expect(n.offset ?? -1).toBeGreaterThanOrEqual(was[i]!.offset ?? -1);
      expect(n.at ?? -1).toBeGreaterThanOrEqual(was[i]!.at ?? -1);
    });
    expect(await tombstone(`AFFECTS:${event.id}:${SYM}`))
      .toMatchObject({ src_op: 'DeleteRelationship', enr_source_topic: topics.events.name, enr_source_offset: at.offset + 1 });
    expect((await props('MATCH (n:MarketEvent {id: $id}) RETURN properties(n) AS p', { id: event.id }))).toEqual([]);
  });

  it('graph-mutations deletes (DeleteRelationship, tombstones) remove what they name, record it, and are idempotent', async () => {
    const [PA, PB] = [fresh(), fresh()];
    const t = Date.now() - 60_000;
    await publisher.send(topics.mutations, [
      upsertNode('Company', PB, { name: 'Profile Beta' }, { origin: 'profile', time: t }),
      upsertRelationship('COMPETES_WITH', PA, PB, { confidence: 0.8 }, { origin: 'competitors', time: t }),
      upsertRelationship('CORRELATED_WITH', PA, PB, { coefficient: 0.9 }, { origin: 'correlation', time: t }),
    ], { source: 'test' });
    await waitFor(async () =>
      (await props('MATCH (:Company {symbol: $a})-[x]->(:Company {symbol: $b}) RETURN properties(x) AS p', { a: PA, b: PB })).length === 2,
      { what: 'both relationships' });
    await publisher.send(topics.mutations, [deleteRelationship('COMPETES_WITH', PA, PB, { origin: 'competitors', time: t + 1000 })], { source: 'test' });
    // The two records have different keys, so different partitions: Kafka orders them only if the second is sent
    // after the first took effect (else the node's delete may come first and take the relationship with it).
    await waitFor(async () => (await tombstone(`COMPETES_WITH:${PA}:${PB}`)) !== undefined, { what: 'the relationship deleted' });
    await publisher.sendTombstone(topics.mutations, `Company:${PB}`, { source: 'test' });
    await waitFor(async () => (await tombstone(`Company:${PB}`)) !== undefined, { what: 'the company deleted' });
    await settled();

    expect(await props('MATCH (c:Company {symbol: $b}) RETURN properties(c) AS p', { b: PB })).toEqual([]);
    expect(await props('MATCH (:Company {symbol: $a})-[x]->() RETURN properties(x) AS p', { a: PA })).toEqual([]);
    expect(await tombstone(`COMPETES_WITH:${PA}:${PB}`))
      .toMatchObject({ src_op: 'DeleteRelationship', src_origin: 'competitors', src_topic: topics.mutations.name });
    const node = await tombstone(`Company:${PB}`);
    expect(node).toMatchObject({ src_op: 'tombstone', src_topic: topics.mutations.name });
    // The node's remaining relationship went with it, recorded as such.
    expect(await tombstone(`CORRELATED_WITH:${PA}:${PB}`))
      .toMatchObject({ src_op: 'node deleted', src_cascade: `Company:${PB}`, src_offset: node!.src_offset });

    const text = await explainText(`${PA}-COMPETES_WITH-${PB}`);
    expect(text).toContain(`(${PA})-[:COMPETES_WITH]->(${PB})  DELETED at`);
    expect(text).toMatch(/"DeleteRelationship":\{"type":"COMPETES_WITH"/);

    // Only this test's companies: the enricher's replay republishes the event's deletes (newer records, same effect).
    const before = await snapshot('(none)', [PA, PB]);
    await replay(['neo4j']);
    await settled();
    expect(await snapshot('(none)', [PA, PB])).toEqual(before);
  });
});
