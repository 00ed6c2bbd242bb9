// neo4j-sink applying graph-mutations, against the real Kafka, registry and Neo4j on isolated topics and random keys:
// upserts land, a repeat is a no-op, an older mutation never overwrites a newer one, deletes and tombstones,
// a null property removes it, records outside the whitelist (including injection attempts and raw Avro with an
// unknown label) go to the DLQ with the reason and execute nothing, and a replay from earliest leaves the graph identical.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../../consumers/registry.ts';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import type { Config } from '../../../lib/config.ts';
import { totalLag } from '../../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../../lib/publisher.ts';
import { createSerde, type Serde } from '../../../lib/serde.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import { loadSchema } from '../../../schemas/avro.ts';
import type { GraphMutation } from '../../../schemas/types.generated.ts';
import { ensureTopics } from '../../../topics/admin.ts';
import { deleteRelationship, long, upsertNode, upsertRelationship } from '../../../topics/graph-model.ts';
import { graphMutations, priceUpdates, withName, type TopicDef } from '../../../topics/index.ts';
import { consumeMessages, randomName, testConfig, testKafka, testLogger, waitFor } from '../../helpers/index.ts';

const RUN = `G${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
const sym = (s: string) => `${RUN}${s}`;
const sector = (s: string) => `Sector ${RUN} ${s}`;
const T0 = Date.now() - 3_600_000;
const at = (seconds: number) => ({ origin: 'profile', time: T0 + seconds * 1000 }) as const;

describe('neo4j-sink: graph-mutations', () => {
  const logger = testLogger('graph-mutations-test');
  const kafka = testKafka();
  let config: Config;
  let topic: TopicDef<GraphMutation>;
  let publisher: Publisher;
  let serde: Serde;
  let driver: Driver;
  let sinks: RunningSinks | undefined;
  const topics = () => ({ prices: withName(priceUpdates, randomName('test-prices')), mutations: topic });
  let sinkTopics: ReturnType<typeof topics>;

  const start = async () => { sinks = await startSinks({ config, logger, names: ['neo4j'], topics: sinkTopics }); };
  const stop = async () => { await sinks?.stop(); sinks = undefined; };
  const send = (...ms: GraphMutation[]) => publisher.send(topic, ms, { source: 'test' });
  /** Waits until the group has consumed (written or dead-lettered) everything on the topic. */
  const settle = () => waitFor(async () => (await totalLag(kafka, groupIdOf(config, 'neo4j'), [topic.name])) === 0, { what: 'the neo4j sink to catch up', timeoutMs: 60_000 });

  const company = async (symbol: string) => (await driver.executeQuery(
    'MATCH (c:Company {symbol: $symbol}) RETURN properties(c) AS p, labels(c) AS labels', { symbol })).records[0]?.toObject() as { p: Record<string, unknown>; labels: string[] } | undefined;
  const rel = async (type: string, from: string, to: string) => (await driver.executeQuery(
    'MATCH (a {symbol: $from})-[x]->(b) WHERE type(x) = $type AND coalesce(b.symbol, b.name) = $to RETURN properties(x) AS p', { type, from, to })).records[0]?.get('p') as Record<string, unknown> | undefined;

  /** Everything this test run wrote: nodes, relationships and tombstones, canonical and comparable. */
  async function snapshot() {
    const nodes = await driver.executeQuery(
      `MATCH (n) WHERE n.symbol STARTS WITH $run OR n.name STARTS WITH $sector OR (n:GraphTombstone AND n.key CONTAINS $run)
       RETURN [labels(n), properties(n)] AS x`, { run: RUN, sector: `Sector ${RUN}` });
    const rels = await driver.executeQuery(
      `MATCH (a)-[x]->(b) WHERE a.symbol STARTS WITH $run RETURN [type(x), a.symbol, coalesce(b.symbol, b.name), properties(x)] AS x`, { run: RUN });
    const canon = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
    return { nodes: canon(nodes.records.map((r) => r.get('x'))), rels: canon(rels.records.map((r) => r.get('x'))) };
  }

  beforeAll(async () => {
    config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test'), SINK_RETRY_MAX_MS: '1000' });
    topic = withName(graphMutations, randomName('test-graph'));
    sinkTopics = topics();
    await ensureTopics(kafka, config, [topic]);
    serde = createSerde(config);
    publisher = createPublisher({ kafka, serde, logger });
    await publisher.connect();
    driver = createNeo4jDriver(config);
    await start();
  });

  afterAll(async () => {
    await stop();
    await publisher?.disconnect();
    await driver?.executeQuery('MATCH (n) WHERE n.symbol STARTS WITH $run OR n.name STARTS WITH $sector OR (n:GraphTombstone AND n.key CONTAINS $run) DETACH DELETE n',
      { run: RUN, sector: `Sector ${RUN}` }).catch(() => {});
    await driver?.close();
  });

  it('applies node and relationship upserts; a relationship upsert creates its missing end nodes', async () => {
    const [a, b] = [sym('A'), sym('B')];
    await send(
      upsertNode('Company', a, { name: 'Alpha Corp', exchange: 'NasdaqGS', employees: long(1200), tags: ['x', 'y'] }, at(1)),
      upsertNode('Sector', sector('Tech'), {}, at(1)),
      upsertRelationship('IN_SECTOR', a, sector('Tech'), {}, at(1)),
      upsertRelationship('COMPETES_WITH', a, b, { source: 'claude', confidence: 0.8, updated_at: 'x' }, at(1)),
    );
    await settle();
    expect(await company(a)).toEqual({ p: { symbol: a, name: 'Alpha Corp', exchange: 'NasdaqGS', employees: 1200, tags: ['x', 'y'], _mutated_at: T0 + 1000 }, labels: expect.arrayContaining(['Company', 'Stock']) });
    expect(await rel('IN_SECTOR', a, sector('Tech'))).toEqual({ _mutated_at: T0 + 1000 });
    expect(await rel('COMPETES_WITH', a, b)).toEqual({ source: 'claude', confidence: 0.8, updated_at: 'x', _mutated_at: T0 + 1000 });
    expect((await company(b))?.labels).toEqual(expect.arrayContaining(['Company', 'Stock'])); // created by the relationship upsert
  });

  it('applies MarketEvent nodes and AFFECTS; Stock:X is the same node as Company:X', async () => {
    const [s, id] = [sym('S'), `evt${RUN.toLowerCase()}`];
    await send(
      upsertNode('Stock', s, { name: 'Sigma' }, at(3)),
      upsertNode('MarketEvent', id, { type: 'earnings', sentiment_score: 0.6, headline: 'Sigma beats' }, { origin: 'enricher', time: T0 + 3000 }),
      upsertRelationship('AFFECTS', id, s, { relevance: 1 }, { origin: 'enricher', time: T0 + 3000 }),
      upsertRelationship('IN_INDUSTRY', s, `${sector('Industry')}`, {}, at(3)),
    );
    await settle();
    expect((await company(s))?.p).toMatchObject({ name: 'Sigma' });
    expect((await company(s))?.labels).toEqual(expect.arrayContaining(['Company', 'Stock']));
    const affects = await driver.executeQuery('MATCH (e:MarketEvent {id: $id})-[x:AFFECTS]->(c:Company) RETURN e.type AS type, c.symbol AS symbol, x.relevance AS relevance', { id });
    expect(affects.records.map((r) => r.toObject())).toEqual([{ type: 'earnings', symbol: s, relevance: 1 }]);
    expect(await rel('IN_INDUSTRY', s, sector('Industry'))).toBeDefined();
    await driver.executeQuery('MATCH (e:MarketEvent {id: $id}) DETACH DELETE e', { id });
  });

  it('applying the same mutations again changes nothing', async () => {
    const c = sym('C');
    const ms = [upsertNode('Company', c, { name: 'Gamma' }, at(2)), upsertRelationship('CORRELATED_WITH', c, sym('D'), { coefficient: 0.9 }, at(2))];
    await send(...ms);
    await settle();
    const before = await snapshot();
    await send(...ms, ...ms);
    await settle();
    expect(await snapshot()).toEqual(before);
  });

  it('never lets an older mutation overwrite a newer one; a null property removes it', async () => {
    const e = sym('E');
    await send(upsertNode('Company', e, { name: 'New name', sector: 'Tech' }, at(20)));
    await send(upsertNode('Company', e, { name: 'Old name', extra: 'stale' }, at(10)));
    await send(upsertRelationship('COMPETES_WITH', e, sym('F'), { confidence: 0.9 }, at(20)));
    await send(upsertRelationship('COMPETES_WITH', e, sym('F'), { confidence: 0.1 }, at(10)));
    await settle();
    expect((await company(e))?.p).toEqual({ symbol: e, name: 'New name', sector: 'Tech', _mutated_at: T0 + 20_000 });
    expect(await rel('COMPETES_WITH', e, sym('F'))).toEqual({ confidence: 0.9, _mutated_at: T0 + 20_000 });

    await send(upsertNode('Company', e, { sector: null }, at(30)));
    await settle();
    expect((await company(e))?.p).toEqual({ symbol: e, name: 'New name', _mutated_at: T0 + 30_000 });
  });

  it('deletes a relationship; an older upsert arriving later does not bring it back, a newer one does', async () => {
    const [g, h] = [sym('G'), sym('H')];
    await send(upsertRelationship('CORRELATED_WITH', g, h, { coefficient: 0.8 }, at(40)));
    await send(deleteRelationship('CORRELATED_WITH', g, h, at(50)));
    await settle();
    expect(await rel('CORRELATED_WITH', g, h)).toBeUndefined();
    expect(await company(g)).toBeDefined(); // end nodes stay

    await send(upsertRelationship('CORRELATED_WITH', g, h, { coefficient: 0.75 }, at(45)));
    await settle();
    expect(await rel('CORRELATED_WITH', g, h)).toBeUndefined();

    await send(upsertRelationship('CORRELATED_WITH', g, h, { coefficient: 0.71 }, at(60)));
    await settle();
    expect(await rel('CORRELATED_WITH', g, h)).toEqual({ coefficient: 0.71, _mutated_at: T0 + 60_000 });

    // A delete older than the relationship's last change is stale: the relationship stays.
    await send(deleteRelationship('CORRELATED_WITH', g, h, at(55)));
    await settle();
    expect(await rel('CORRELATED_WITH', g, h)).toEqual({ coefficient: 0.71, _mutated_at: T0 + 60_000 });
  });

  it('a tombstone deletes what its key names: a relationship, or a node with its relationships', async () => {
    const [i, j] = [sym('I'), sym('J')];
    await send(
      upsertNode('Company', i, { name: 'Iota' }, at(70)),
      upsertRelationship('COMPETES_WITH', i, j, { confidence: 0.5 }, at(70)),
      upsertRelationship('CORRELATED_WITH', i, j, { coefficient: 0.9 }, at(70)),
      upsertRelationship('IN_SECTOR', i, sector('Tomb'), {}, at(70)),
    );
    await settle();
    await publisher.sendTombstone(topic, `COMPETES_WITH:${i}:${j}`, { source: 'test' });
    await settle();
    expect(await rel('COMPETES_WITH', i, j)).toBeUndefined();
    expect(await rel('CORRELATED_WITH', i, j)).toBeDefined();

    await publisher.sendTombstone(topic, `Company:${i}`, { source: 'test' });
    await settle();
    expect(await company(i)).toBeUndefined();
    expect(await company(j)).toBeDefined();
    const sectors = await driver.executeQuery('MATCH (s:Sector {name: $name}) RETURN count(s) AS n', { name: sector('Tomb') });
    expect(sectors.records[0]?.get('n')).toBe(1);

    // Older mutations of the deleted entities (a late producer, a replay) do not resurrect them.
    await send(upsertNode('Company', i, { name: 'Iota again' }, at(80)), upsertRelationship('CORRELATED_WITH', i, j, { coefficient: 0.95 }, at(80)));
    await settle();
    expect(await company(i)).toBeUndefined();
  });

  it('dead-letters records outside the whitelist with the reason, and executes nothing for them', async () => {
    const k = sym('K');
    await send(upsertNode('Company', k, { name: 'Kappa' }, at(90)));
    await settle();
    const producer = kafka.producer();
    await producer.connect();
    try {
      const encode = await serde.encoder(topic);
      const bad = (key: string, m: GraphMutation) => ({ key, value: encode(m) });
      await producer.send({
        topic: topic.name,
        messages: [
          // Property-name injection: would close the map and delete the node if it were ever spliced into Cypher.
          bad(`Company:${sym('INJ')}`, upsertNode('Company', sym('INJ'), { 'x}) DETACH DELETE (n': 1 } as never, at(91))),
          bad(`Company:${k}`, upsertNode('Company', k, { 'x}) DETACH DELETE (n': 1 } as never, at(92))),
          { key: `Person:${sym('P')}`, value: null }, // tombstone naming a label outside the whitelist
          { key: `Company:${k}) DETACH DELETE (n`, value: null },
        ],
      });
      // A record whose key names another entity than its value (would break per-entity order).
      await producer.send({ topic: topic.name, messages: [bad(`Company:${sym('OTHER')}`, upsertNode('Company', sym('ODD2'), { name: 'x' }, at(91)))] });

      // Raw Avro written with a schema whose NodeLabel enum has an extra symbol (registered as a compatible new version).
      const dir = mkdtempSync(path.join(tmpdir(), 'graph-schema-'));
      const extended = JSON.parse(loadSchema(topic.schemaFile).text) as { fields: Array<{ name: string; type: unknown }> };
      const opField = extended.fields.find((f) => f.name === 'op')!;
      const nodeLabel = ((opField.type as Array<{ fields: Array<{ name: string; type: { symbols?: string[] } }> }>)[0]!.fields.find((f) => f.name === 'label')!.type);
      nodeLabel.symbols = [...nodeLabel.symbols!, 'Person'];
      writeFileSync(path.join(dir, 'extended.avsc'), JSON.stringify(extended));
      const extendedTopic: TopicDef<unknown> = { ...topic, schemaFile: path.join(dir, 'extended.avsc') } as TopicDef<unknown>;
      const person = upsertNode('Person' as never, sym('P'), { name: 'x' }, at(91));
      await producer.send({ topic: topic.name, messages: [{ key: `Person:${sym('P')}`, value: await serde.encode(extendedTopic, person) }] });
    } finally {
      await producer.disconnect();
    }
    await send(upsertNode('Company', k, { name: 'Kappa 2' }, at(93))); // good records after the bad ones still land
    await settle();

    const dead = await consumeMessages(kafka, topic.dlq, 6);
    const headers = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]));
    const reasons = (key: string) => dead.filter((d) => d.key?.toString() === key).map((d) => headers(d.headers))
      .map((h) => `${h['error-class']}: ${h['error-message']}`).sort();
    expect(reasons(`Company:${sym('INJ')}`)).toEqual([expect.stringMatching(/^ValidationError: property name "x}\) DETACH DELETE \(n" does not match/)]);
    expect(reasons(`Company:${k}`)).toEqual([expect.stringMatching(/^ValidationError: property name/)]);
    expect(reasons(`Person:${sym('P')}`)).toEqual([
      expect.stringMatching(/^DecodeError: records of schema id \d+ .* cannot be read/), // the unknown enum symbol
      expect.stringMatching(/^ValidationError: tombstone not applied: key "Person:\w+" does not start with a whitelisted label/),
    ]);
    expect(reasons(`Company:${k}) DETACH DELETE (n`)).toEqual([expect.stringMatching(/tombstone not applied/)]);
    expect(reasons(`Company:${sym('OTHER')}`)).toEqual([expect.stringMatching(/is not the entity key/)]);
    expect(dead.map((d) => headers(d.headers)).every((h) => h['original-topic'] === topic.name && h['consumer-group'] === groupIdOf(config, 'neo4j'))).toBe(true);

    // Nothing executed: the node the injection aimed at is intact, no node of a rejected record exists, no Person label.
    expect((await company(k))?.p).toEqual({ symbol: k, name: 'Kappa 2', _mutated_at: T0 + 93_000 });
    for (const s of ['INJ', 'OTHER', 'ODD2']) expect(await company(sym(s))).toBeUndefined();
    const persons = await driver.executeQuery('MATCH (p:Person) RETURN count(p) AS n');
    expect(persons.records[0]?.get('n')).toBe(0);
  });

  it('replaying graph-mutations from earliest leaves the graph identical', async () => {
    await settle();
    const before = await snapshot();
    expect(before.nodes.length).toBeGreaterThan(10);
    await stop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.resetOffsets({ groupId: groupIdOf(config, 'neo4j'), topic: topic.name, earliest: true });
    await admin.disconnect();
    expect(await totalLag(kafka, groupIdOf(config, 'neo4j'), [topic.name])).toBeGreaterThan(0);
    await start();
    await settle();
    expect(await snapshot()).toEqual(before);
  });
});
