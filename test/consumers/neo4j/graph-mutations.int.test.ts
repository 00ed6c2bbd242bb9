// neo4j-sink applying graph-mutations, against the real Kafka, registry and Neo4j on isolated topics and random keys:
// the sink contract (nodes and relationships materialize, end nodes made by relationship upserts; redelivery and replay
// change nothing; an older mutation of an entity never overwrites a newer one; invalid records to the DLQ while the
// good ones after them land; a tombstone deletes what its key names; a Neo4j outage pauses the group), plus:
// MarketEvent/AFFECTS and Stock = Company, null properties, deletes that older upserts cannot undo, tombstones of
// relationships and of nodes with relationships, records outside the whitelist (injection attempts, raw Avro with an
// unknown label) dead-lettered without executing anything, and a replay of everything this file wrote.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceVersionHeader } from '../../../lib/record-headers.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import { loadSchema } from '../../../schemas/avro.ts';
import type { GraphMutation } from '../../../schemas/types.generated.ts';
import { deleteRelationship, KEY_PROPERTY, long, parseEntityKey, upsertNode, upsertRelationship } from '../../../topics/graph-model.ts';
import type { TopicDef } from '../../../topics/index.ts';
import { sinkUnderTest } from '../contract/harness.ts';
import { sinkContract } from '../contract/suite.ts';

const RUN = `G${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
const sym = (s: string) => `${RUN}${s}`;
const sector = (s: string) => `Sector ${RUN} ${s}`;
const T0 = Date.now() - 3_600_000;
const at = (seconds: number) => ({ origin: 'profile', time: T0 + seconds * 1000 }) as const;

describe('neo4j-sink: graph-mutations', () => {
  const sut = sinkUnderTest('neo4j');
  let driver: Driver;

  const send = (...ms: GraphMutation[]) => sut.publisher.send(sut.topics.mutations, ms, { source: 'test' });
  const settle = async () => { await sut.start(); await sut.settle('mutations'); };

  /** Properties without the provenance and versions the sink adds (src_*, enr_*, _version, _deleted_*; tested elsewhere). */
  const own = (p: Record<string, unknown> | undefined) => p && Object.fromEntries(Object.entries(p).filter(([k]) => !/^(src|enr)_|^_(version|deleted_)/.test(k)));
  const company = async (symbol: string) => {
    const c = (await driver.executeQuery(
      'MATCH (c:Company {symbol: $symbol}) RETURN properties(c) AS p, labels(c) AS labels', { symbol })).records[0]?.toObject() as { p: Record<string, unknown>;
        labels: string[] } | undefined;
    return c && { ...c, p: own(c.p)! };
  };
  const rel = async (type: string, from: string, to: string) => own((await driver.executeQuery(
    'MATCH (a {symbol: $from})-[x]->(b) WHERE type(x) = $type AND coalesce(b.symbol, b.name) = $to RETURN properties(x) AS p',
      { type, from, to })).records[0]?.get('p') as Record<string, unknown> | undefined);
  /** Whether the entity an entity key names (`Company:X`, `COMPETES_WITH:X:Y`) is in the graph. */
  async function exists(key: string): Promise<boolean> {
    const e = parseEntityKey(key);
    if (typeof e === 'string') throw new Error(e);
    const { records } = e.kind === 'node'
      ? await driver.executeQuery(`MATCH (n:${e.label} {${KEY_PROPERTY[e.label]}: $key}) RETURN count(n) AS n`, { key: e.key })
      : await driver.executeQuery(`MATCH (a)-[x:${e.type}]->(b) WHERE coalesce(a.symbol, a.id, a.name) = $from ` +
        `AND coalesce(b.symbol, b.id, b.name) = $to RETURN count(x) AS n`, { from: e.from, to: e.to });
    return records[0]?.get('n') > 0;
  }
  const deletedAt = async (key: string) =>
    (await driver.executeQuery('MATCH (t:GraphTombstone {key: $key}) RETURN t.deleted_at AS t', { key })).records[0]?.get('t') as number | undefined;

  /** Everything written under a prefix (default: this whole run): nodes, relationships and tombstones, canonical and comparable. */
  async function snapshot(prefix = RUN) {
    const nodes = await driver.executeQuery(
      `MATCH (n) WHERE n.symbol STARTS WITH $run OR n.name STARTS WITH $sector OR (n:GraphTombstone AND n.key CONTAINS $run)
       RETURN [labels(n), properties(n)] AS x`, { run: prefix, sector: `Sector ${prefix}` });
    const rels = await driver.executeQuery(
      `MATCH (a)-[x]->(b) WHERE a.symbol STARTS WITH $run RETURN [type(x), a.symbol, coalesce(b.symbol, b.name), properties(x)] AS x`, { run: prefix });
    // The versions a record advances without changing anything else (the same mutation published again) are left out.
    const canon = (rows: unknown[]) => rows.map((r) => JSON.stringify(r, (k, v) => (k === '_version' || k === 'deleted_version' ? undefined : v))).sort();
    return { nodes: canon(nodes.records.map((r) => r.get('x'))), rels: canon(rels.records.map((r) => r.get('x'))) };
  }

  beforeAll(async () => {
    driver = createNeo4jDriver(sut.base);
  });
  afterAll(async () => {
    await driver?.executeQuery('MATCH (n) WHERE n.symbol STARTS WITH $run OR n.name STARTS WITH $sector OR ' +
      '(n:GraphTombstone AND n.key CONTAINS $run) DETACH DELETE n',
      { run: RUN, sector: `Sector ${RUN}` }).catch(() => {});
    await driver?.close();
  });

  /** Each scenario's entities under a prefix of their own: `<RUN><n>`. */
  let scenarios = 0;
  const held = async (keys: readonly string[]) => (await Promise.all(keys.map(async (k) => ((await exists(k)) ? [k] : [])))).flat().sort();
  sinkContract(sut, {
    noun: 'graph mutation',
    topic: 'mutations',
    tombstones: 'delete',
    scenario(size) {
      const p = `${RUN}${++scenarios}`;
      const [a, b, c, s] = [`${p}A`, `${p}B`, `${p}C`, `Sector ${p}`];
      if (size === 'few') {
        const keys = [`Company:${a}`, `COMPETES_WITH:${b}:${c}`];
        return {
          records: [upsertNode('Company', a, { name: 'Alpha' }, at(1)), upsertRelationship('COMPETES_WITH', b, c, { confidence: 0.5 }, at(1))],
          keys, landed: async () => (await held(keys)).length === 2, held: () => held(keys), snapshot: () => snapshot(p),
        };
      }
      // Several mutations of one entity (properties merged; an upsert, then a delete) and end nodes made by relationships.
      const keys = [`Company:${a}`, `Sector:${s}`, `IN_SECTOR:${a}:${s}`, `COMPETES_WITH:${a}:${b}`, `CORRELATED_WITH:${a}:${c}`];
      return {
        records: [
          upsertNode('Company', a, { name: 'Alpha', employees: long(1200), tags: ['x', 'y'] }, at(1)),
          upsertNode('Sector', s, {}, at(1)),
          upsertRelationship('IN_SECTOR', a, s, {}, at(1)),
          upsertRelationship('COMPETES_WITH', a, b, { confidence: 0.8 }, at(1)),
          upsertRelationship('CORRELATED_WITH', a, c, { coefficient: 0.9 }, at(1)),
          deleteRelationship('CORRELATED_WITH', a, c, at(2)),
          upsertNode('Company', a, { exchange: 'NasdaqGS' }, at(2)),
        ],
        keys,
        landed: async () =>
          isDeepStrictEqual((await company(a))?.p,
            { symbol: a, name: 'Alpha', employees: 1200, tags: ['x', 'y'], exchange: 'NasdaqGS', _mutated_at: T0 + 2000 })
          && isDeepStrictEqual(await rel('COMPETES_WITH', a, b), { confidence: 0.8, _mutated_at: T0 + 1000 })
          && isDeepStrictEqual(await rel('IN_SECTOR', a, s), { _mutated_at: T0 + 1000 })
          && (await exists(`Sector:${s}`)) && ((await company(b))?.labels.includes('Stock') ?? false) // b: made by the relationship upsert
          && (await deletedAt(`CORRELATED_WITH:${a}:${c}`)) === T0 + 2000 && !(await exists(`CORRELATED_WITH:${a}:${c}`)),
        held: () => held(keys),
        snapshot: () => snapshot(p),
      };
    },
    invalid: (key) => ({ value: upsertNode('Company', key.split(':')[1]!, { 'Bad-Name': 1 }, at(1)), reason: /property name "Bad-Name" does not match/ }),
    ordering() {
      const p = `${RUN}${++scenarios}`;
      const [e, f] = [`${p}E`, `${p}F`];
      return {
        newer: [upsertNode('Company', e, { name: 'New name', sector: 'Tech' }, at(20)), upsertRelationship('COMPETES_WITH', e, f, { confidence: 0.9 }, at(20))],
        older: [upsertNode('Company', e, { name: 'Old name', extra: 'stale' }, at(10)), upsertRelationship('COMPETES_WITH', e, f, { confidence: 0.1 }, at(10))],
        newerHolds: async () =>
          isDeepStrictEqual((await company(e))?.p, { symbol: e, name: 'New name', sector: 'Tech', _mutated_at: T0 + 20_000 })
          && isDeepStrictEqual(await rel('COMPETES_WITH', e, f), { confidence: 0.9, _mutated_at: T0 + 20_000 }),
        snapshot: () => snapshot(p),
      };
    },
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
    const affects =
      await driver.executeQuery('MATCH (e:MarketEvent {id: $id})-[x:AFFECTS]->(c:Company) RETURN e.type AS type, c.symbol AS symbol, x.relevance AS relevance',
      { id });
    expect(affects.records.map((r) => r.toObject())).toEqual([{ type: 'earnings', symbol: s, relevance: 1 }]);
    expect(await rel('IN_INDUSTRY', s, sector('Industry'))).toBeDefined();
    await driver.executeQuery('MATCH (e:MarketEvent {id: $id}) DETACH DELETE e', { id });
  });

  it('removes a property a newer mutation sets to null', async () => {
    const e = sym('E');
    await send(upsertNode('Company', e, { name: 'New name', sector: 'Tech' }, at(20)));
    await settle();
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
    await sut.publisher.sendTombstone(sut.topics.mutations, `COMPETES_WITH:${i}:${j}`, { source: 'test' });
    await settle();
    expect(await rel('COMPETES_WITH', i, j)).toBeUndefined();
    expect(await rel('CORRELATED_WITH', i, j)).toBeDefined();

    await sut.publisher.sendTombstone(sut.topics.mutations, `Company:${i}`, { source: 'test' });
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

  it('a relationship\'s own delete is named on its tombstone even when its node\'s delete was applied first', async () => {
    const [k, l] = [sym('DRK'), sym('DRL')];
    await send(upsertNode('Company', k, { name: 'Kappa' }, at(90)), upsertRelationship('COMPETES_WITH', k, l, { confidence: 0.4 }, at(90)));
    await settle();
    // The node's delete (a tombstone: its time is now) applied before the relationship's own, older delete, as when
    // the two sit in different partitions.
    await sut.publisher.sendTombstone(sut.topics.mutations, `Company:${k}`, { source: 'test' });
    await settle();
    const op = async () => (await driver.executeQuery('MATCH (t:GraphTombstone {key: $key}) RETURN t.src_op AS op',
      { key: `COMPETES_WITH:${k}:${l}` })).records[0]?.get('op');
    expect(await op()).toBe('node deleted');
    await send(deleteRelationship('COMPETES_WITH', k, l, at(91)));
    await settle();
    expect(await op()).toBe('DeleteRelationship');
    expect(await deletedAt(`COMPETES_WITH:${k}:${l}`)).toBe(await deletedAt(`Company:${k}`)); // the later time stays
  });

  it('dead-letters records outside the whitelist with the reason, and executes nothing for them', async () => {
    const k = sym('K');
    await send(upsertNode('Company', k, { name: 'Kappa' }, at(90)));
    await settle();
    const { serde, topics: { mutations: topic } } = sut;
    const encode = await serde.encoder(topic);
    const bad = (key: string, m: GraphMutation) => ({ key, value: encode(m) });
    await sut.sendRaw('mutations', [
      // Property-name injection: would close the map and delete the node if it were ever spliced into Cypher.
      bad(`Company:${sym('INJ')}`, upsertNode('Company', sym('INJ'), { 'x}) DETACH DELETE (n': 1 } as never, at(91))),
      bad(`Company:${k}`, upsertNode('Company', k, { 'x}) DETACH DELETE (n': 1 } as never, at(92))),
      { key: `Person:${sym('P')}`, value: null }, // tombstone naming a label outside the whitelist
      { key: `Company:${k}) DETACH DELETE (n`, value: null },
      // A record whose key names another entity than its value (would break per-entity order).
      bad(`Company:${sym('OTHER')}`, upsertNode('Company', sym('ODD2'), { name: 'x' }, at(91))),
    ]);

    // Raw Avro written with a schema whose NodeLabel enum has an extra symbol (registered as a compatible new version).
    const dir = mkdtempSync(path.join(tmpdir(), 'graph-schema-'));
    const extended = JSON.parse(loadSchema(topic.schemaFile).text) as { fields: Array<{ name: string; type: unknown }> };
    const opField = extended.fields.find((f) => f.name === 'op')!;
    const nodeLabel = ((opField.type as Array<{ fields: Array<{ name: string; type: { symbols?: string[] } }> }>)[0]!
      .fields.find((f) => f.name === 'label')!.type);
    nodeLabel.symbols = [...nodeLabel.symbols!, 'Person'];
    writeFileSync(path.join(dir, 'extended.avsc'), JSON.stringify(extended));
    const extendedTopic: TopicDef<unknown> = { ...topic, schemaFile: path.join(dir, 'extended.avsc') } as TopicDef<unknown>;
    const person = upsertNode('Person' as never, sym('P'), { name: 'x' }, at(91));
    await sut.sendRaw('mutations', [{ key: `Person:${sym('P')}`, value: await serde.encode(extendedTopic, person) }]);
    await send(upsertNode('Company', k, { name: 'Kappa 2' }, at(93))); // good records after the bad ones still land
    await settle();

    const keys = [`Company:${sym('INJ')}`, `Company:${k}`, `Person:${sym('P')}`, `Company:${k}) DETACH DELETE (n`, `Company:${sym('OTHER')}`];
    const dead = await sut.deadLetters('mutations', keys, 6);
    const reasons = (key: string) => dead.filter((d) => d.key === key).map(({ headers: h }) => `${h['error-class']}: ${h['error-message']}`).sort();
    expect(reasons(`Company:${sym('INJ')}`)).toEqual([expect.stringMatching(/^ValidationError: property name "x}\) DETACH DELETE \(n" does not match/)]);
    expect(reasons(`Company:${k}`)).toEqual([expect.stringMatching(/^ValidationError: property name/)]);
    expect(reasons(`Person:${sym('P')}`)).toEqual([
      expect.stringMatching(/^DecodeError: records of schema id \d+ .* cannot be read/), // the unknown enum symbol
      expect.stringMatching(/^ValidationError: tombstone not applied: key "Person:\w+" does not start with a whitelisted label/),
    ]);
    expect(reasons(`Company:${k}) DETACH DELETE (n`)).toEqual([expect.stringMatching(/tombstone not applied/)]);
    expect(reasons(`Company:${sym('OTHER')}`)).toEqual([expect.stringMatching(/is not the entity key/)]);
    expect(dead.every(({ headers: h }) => h['original-topic'] === topic.name && h['consumer-group'] === sut.groupId)).toBe(true);

    // Nothing executed: the node the injection aimed at is intact, no node of a rejected record exists, no Person label.
    expect((await company(k))?.p).toEqual({ symbol: k, name: 'Kappa 2', _mutated_at: T0 + 93_000 });
    for (const s of ['INJ', 'OTHER', 'ODD2']) expect(await company(sym(s))).toBeUndefined();
    const persons = await driver.executeQuery('MATCH (p:Person) RETURN count(p) AS n');
    expect(persons.records[0]?.get('n')).toBe(0);
  });

  it('dead-letters a mutation setting what the price path owns (last_vwap, last_trades, last_price_version), with the reason', async () => {
    const v = sym('V');
    await send(upsertNode('Company', v, { name: 'Vee' }, at(100)));
    await settle();
    const owned = ['last_vwap', 'last_trades', 'last_price_version'] as const;
    const keys = owned.map((_, i) => `Company:${sym(`V${i}`)}`);
    await send(...owned.map((p, i) => upsertNode('Company', sym(`V${i}`), { [p]: i === 1 ? long(7) : 1.5 }, at(101))),
      upsertNode('Company', v, { last_vwap: 99.5, last_trades: long(1) }, at(102)));
    await settle();
    const dead = await sut.deadLetters('mutations', [...keys, `Company:${v}`], 4);
    const reason = (key: string) => dead.filter((d) => d.key === key).map(({ headers: h }) => `${h['error-class']}: ${h['error-message']}`);
    owned.forEach((p, i) => expect(reason(keys[i]!)).toEqual([expect.stringMatching(new RegExp(`^ValidationError: property ${p} is reserved`))]));
    expect(reason(`Company:${v}`)).toEqual([expect.stringMatching(/^ValidationError: property last_vwap is reserved/)]);
    expect((await company(v))?.p).toEqual({ symbol: v, name: 'Vee', _mutated_at: T0 + 100_000 }); // nothing overwritten
    for (const key of keys) expect(await exists(key)).toBe(false);
  });

  it('orders the enricher\'s mutations by marketstream-source-version: a stale member\'s re-published links stay deleted', async () => {
    const [c, id] = [sym('SV'), `evt${RUN.toLowerCase()}sv`];
    // Market-events records 10 (the event) and 11 (its withdrawal) made in the same millisecond: their version decides.
    const enricher = { origin: 'enricher', time: T0 + 60_000 } as const;
    const from = (version: number) => ({ source: 'test', records: [{ headers: sourceVersionHeader(0, version) }] });
    const affects = async () => (await driver.executeQuery('MATCH (:MarketEvent {id: $id})-[x:AFFECTS]->(:Company {symbol: $c}) RETURN count(x) AS n',
      { id, c })).records[0]?.get('n');
    await sut.publisher.send(sut.topics.mutations, [upsertRelationship('AFFECTS', id, c, { relevance: 0.9 }, enricher)], from(10));
    await settle();
    expect(await affects()).toBe(1);
    await sut.publisher.send(sut.topics.mutations, [deleteRelationship('AFFECTS', id, c, enricher)], from(11));
    await settle();
    expect(await affects()).toBe(0);
    // The member that lost the partition publishes event record 10's link again, after the new owner's delete.
    await sut.publisher.send(sut.topics.mutations, [upsertRelationship('AFFECTS', id, c, { relevance: 0.9 }, enricher)], from(10));
    await settle();
    expect(await affects()).toBe(0);
    // A later record of the event (12) brings it back.
    await sut.publisher.send(sut.topics.mutations, [upsertRelationship('AFFECTS', id, c, { relevance: 0.8 }, enricher)], from(12));
    await settle();
    expect(await affects()).toBe(1);
    await driver.executeQuery('MATCH (e:MarketEvent {id: $id}) DETACH DELETE e', { id });
  });

  it('replaying graph-mutations from earliest leaves the whole graph this file wrote identical (deletes and tombstones included)', async () => {
    await settle();
    const before = await snapshot();
    expect(before.nodes.length).toBeGreaterThan(10);
    await sut.replay('mutations');
    await settle();
    expect(await snapshot()).toEqual(before);
  });
});
