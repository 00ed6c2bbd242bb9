// neo4j-sink: newest wins by (time, version) against the REAL Neo4j, the sink's handlers given batches directly (as the
// runner gives them, with each record's version), so a stale writer's batch can be delivered after the newer one:
// an older mutation is refused and counted; an older upsert never revives what a newer delete removed, a newer one does;
// Stock's last price is ordered by (event time, version); and a log applied in any order (stale batches re-applied,
// partitions interleaved) leaves the same graph as the log replayed in order into an empty graph.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNeo4jSink } from '../../../consumers/neo4j/sink.ts';
import type { Sink, SinkRecord, WriteResult } from '../../../consumers/types.ts';
import { createNeo4jDriver, type Driver } from '../../../lib/stores/neo4j.ts';
import type { GraphMutation, PriceUpdate } from '../../../schemas/types.generated.ts';
import { deleteRelationship, upsertNode, upsertRelationship } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';
import { bar, randomSymbol, testConfig } from '../../helpers/index.ts';

const RUN = `V${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;
const T0 = Date.now() - 3_600_000;
const at = (seconds: number) => T0 + seconds * 1000;
const meta = (seconds: number) => ({ origin: 'profile', time: at(seconds) }) as const;
let prefixes = 0;
const prefix = () => `${RUN}${String.fromCharCode(65 + prefixes++)}`;

/** A record as the runner hands it to the sink: read at `version` (its offset) of partition 0. */
function rec(value: GraphMutation, version: number): SinkRecord<GraphMutation> {
  return { value, key: graphMutationKey(value), timestamp: value.mutationTime, topic: 'graph-mutations', partition: 0, offset: String(version), version };
}
/** A tombstone for an entity key, its time its record timestamp. */
function tomb(key: string, seconds: number, version: number): SinkRecord<GraphMutation> {
  return { value: null, key, timestamp: at(seconds), topic: 'graph-mutations', partition: 0, offset: String(version), version };
}

describe('neo4j-sink: newest wins by (time, version)', () => {
  let sink: Sink;
  let driver: Driver;
  const write = async (...records: SinkRecord<GraphMutation>[]) => ((await sink.handlers[1]!.writeBatch(records)) as WriteResult | undefined)?.stale ?? 0;
  const node = async (symbol: string) => (await driver.executeQuery('MATCH (c:Company {symbol: $symbol}) RETURN properties(c) AS p', { symbol }))
    .records[0]?.get('p') as Record<string, unknown> | undefined;
  const rel = async (type: string, from: string, to: string) => (await driver.executeQuery(
    'MATCH (a {symbol: $from})-[x]->(b {symbol: $to}) WHERE type(x) = $type RETURN properties(x) AS p', { type, from, to }))
    .records[0]?.get('p') as Record<string, unknown> | undefined;

  /** The product graph under a prefix (tombstones left out: which ones exist depends on what was there to delete), with the prefix replaced. */
  async function graph(p: string) {
    const nodes = await driver.executeQuery(
      'MATCH (n) WHERE n.symbol STARTS WITH $p AND NOT n:GraphTombstone RETURN [labels(n), properties(n)] AS x', { p });
    const rels = await driver.executeQuery(
      'MATCH (a)-[x]->(b) WHERE a.symbol STARTS WITH $p RETURN [type(x), a.symbol, b.symbol, properties(x)] AS x', { p });
    const sorted = (v: unknown): unknown => (v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y))) : v);
    const canon = (rows: unknown[]) => rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'string' ? v.replaceAll(p, '<p>') : sorted(v)))).sort();
    return { nodes: canon(nodes.records.map((r) => r.get('x'))), rels: canon(rels.records.map((r) => r.get('x'))) };
  }

  beforeAll(async () => {
    const config = testConfig();
    sink = createNeo4jSink(config);
    await sink.connect();
    driver = createNeo4jDriver(config);
  });
  afterAll(async () => {
    await driver?.executeQuery('MATCH (n) WHERE n.symbol STARTS WITH $run OR (n:GraphTombstone AND n.key CONTAINS $run) DETACH DELETE n',
      { run: RUN }).catch(() => {});
    await driver?.close();
    await sink?.close();
  });

  it('refuses an older mutation delivered after a newer one, and counts it', async () => {
    const p = prefix();
    const [a, b] = [`${p}A`, `${p}B`];
    expect(await write(rec(upsertNode('Company', a, { name: 'new' }, meta(10)), 5),
      rec(upsertRelationship('COMPETES_WITH', a, b, { confidence: 0.9 }, meta(10)), 6))).toBe(0);
    // A stale writer's batch: the same time, older versions (records of the same key before them in the partition).
    expect(await write(rec(upsertNode('Company', a, { name: 'old' }, meta(10)), 3),
      rec(upsertRelationship('COMPETES_WITH', a, b, { confidence: 0.1 }, meta(10)), 4))).toBe(2);
    // An older time loses whatever its version; the same record again changes nothing either.
    expect(await write(rec(upsertNode('Company', a, { name: 'older time' }, meta(9)), 9))).toBe(1);
    expect(await write(rec(upsertNode('Company', a, { name: 'new' }, meta(10)), 5))).toBe(1);
    expect(await node(a)).toMatchObject({ name: 'new', _mutated_at: at(10), _version: 5, src_offset: 5 });
    expect(await rel('COMPETES_WITH', a, b)).toMatchObject({ confidence: 0.9, _version: 6 });
    // At the same time a newer version wins.
    expect(await write(rec(upsertNode('Company', a, { name: 'newer' }, meta(10)), 7))).toBe(0);
    expect(await node(a)).toMatchObject({ name: 'newer', _version: 7 });
  });

  it('an older upsert never revives what a newer delete removed; a newer upsert brings it back', async () => {
    const p = prefix();
    const [d, e] = [`${p}D`, `${p}E`];
    await write(rec(upsertNode('Company', d, { name: 'Delta' }, meta(10)), 1), rec(upsertRelationship('COMPETES_WITH', d, e, { confidence: 0.5 }, meta(10)), 2));
    await write(tomb(`Company:${d}`, 20, 3), rec(deleteRelationship('COMPETES_WITH', e, d, meta(20)), 4));
    expect(await node(d)).toBeUndefined();
    expect(await rel('COMPETES_WITH', d, e)).toBeUndefined();

    // The stale writer's batch, after the deletes: the upserts of before, at the delete's time with older versions, and earlier.
    expect(await write(
      rec(upsertNode('Company', d, { name: 'Delta stale' }, meta(20)), 2),
      rec(upsertRelationship('COMPETES_WITH', d, e, { confidence: 0.4 }, meta(10)), 2),
      rec(upsertRelationship('COMPETES_WITH', e, d, { confidence: 0.3 }, meta(20)), 3),
    )).toBe(3);
    expect(await node(d)).toBeUndefined();
    expect(await rel('COMPETES_WITH', d, e)).toBeUndefined();
    expect(await rel('COMPETES_WITH', e, d)).toBeUndefined();
    const tombstone = await driver.executeQuery('MATCH (t:GraphTombstone {key: $key}) RETURN t.deleted_at AS t, t.deleted_version AS v', { key: `Company:${d}` });
    expect(tombstone.records[0]?.toObject()).toEqual({ t: at(20), v: 3 });

    // Newer: same time and a later version, or a later time.
    expect(await write(rec(upsertNode('Company', d, { name: 'Delta again' }, meta(20)), 5),
      rec(upsertRelationship('COMPETES_WITH', e, d, { confidence: 0.7 }, meta(21)), 1))).toBe(0);
    expect(await node(d)).toMatchObject({ name: 'Delta again', _version: 5, _deleted_at: at(20), _deleted_version: 3 });
    expect(await rel('COMPETES_WITH', e, d)).toMatchObject({ confidence: 0.7 });
    // The node is back, but a relationship upsert older than its delete (one it did not have) still cannot attach to it.
    expect(await write(rec(upsertRelationship('COMPETES_WITH', d, `${p}F`, { confidence: 0.2 }, meta(15)), 9))).toBe(1);
    expect(await rel('COMPETES_WITH', d, `${p}F`)).toBeUndefined();
  });

  it('moves Stock\'s last price by (event time, version)', async () => {
    const s = randomSymbol();
    const prices = sink.handlers[0]!;
    const price = (i: number, close: number, version: number): SinkRecord<PriceUpdate> =>
      ({ value: bar(s, i, close), key: s, timestamp: Date.now(), topic: 'price-updates', partition: 0, offset: String(version), version });
    const last = async () => (await driver.executeQuery('MATCH (c:Company:Stock {symbol: $s}) RETURN c.last_price AS p, c.last_price_version AS v', { s }))
      .records[0]?.toObject();
    const stale = async (...records: SinkRecord<PriceUpdate>[]) => ((await prices.writeBatch(records)) as WriteResult | undefined)?.stale ?? 0;
    try {
      expect(await stale(price(1, 100, 10))).toBe(0);
      expect(await stale(price(1, 90, 9))).toBe(1); // the same bar, an older record of it: a stale writer's
      expect(await last()).toEqual({ p: 100, v: 10 });
      expect(await stale(price(1, 110, 11))).toBe(0); // a correction of the bar
      expect(await last()).toEqual({ p: 110, v: 11 });
      expect(await stale(price(0, 50, 20))).toBe(1); // an older bar, whatever its version
      expect(await last()).toEqual({ p: 110, v: 11 });
      // In one batch, the newest by (event time, version) is the one written.
      expect(await stale(price(2, 130, 31), price(2, 120, 30))).toBe(0);
      expect(await last()).toEqual({ p: 130, v: 31 });
    } finally {
      await driver.executeQuery('MATCH (c:Company {symbol: $s}) DETACH DELETE c', { s });
    }
  });

  it('leaves the same graph whatever the order the log is applied in, as a replay in order into an empty graph', async () => {
    /** The log of one partition-ordered history (version = offset): corrections at equal times, deletes, stale re-publications, recreation. */
    const log = (p: string): SinkRecord<GraphMutation>[] => {
      const [a, b, c] = [`${p}A`, `${p}B`, `${p}C`];
      return [
        upsertNode('Company', a, { name: 'a1', n: 1 }, meta(1)),
        upsertNode('Company', b, { name: 'b1', n: 1 }, meta(1)),
        upsertRelationship('COMPETES_WITH', a, b, { confidence: 0.5 }, meta(1)),
        upsertNode('Company', a, { name: 'a2', n: 2 }, meta(1)), // a correction at the same time
        null, // 4: tombstone of A at 3 s
        upsertNode('Company', a, { name: 'a-stale', n: 3 }, meta(2)), // older than the delete
        upsertRelationship('COMPETES_WITH', a, b, { confidence: 0.6 }, meta(2)), // older than its end's delete
        upsertNode('Company', a, { name: 'a4', n: 4 }, meta(4)), // back
        upsertRelationship('CORRELATED_WITH', b, c, { coefficient: 0.7 }, meta(1)),
        deleteRelationship('CORRELATED_WITH', b, c, meta(2)),
        upsertRelationship('CORRELATED_WITH', b, c, { coefficient: 0.1 }, meta(1)),
        upsertNode('Company', c, { name: 'c1', n: 1 }, meta(5)),
        upsertNode('Company', b, { name: 'b2', n: 2 }, meta(5)),
        upsertRelationship('COMPETES_WITH', b, c, { confidence: 0.8 }, meta(5)),
        upsertRelationship('COMPETES_WITH', b, c, { confidence: 0.9 }, meta(5)),
      ].map((m, i) => (m ? rec(m, i) : tomb(`Company:${a}`, 3, i)));
    };
    const inOrder = prefix();
    await write(...log(inOrder));
    const expected = await graph(inOrder);
    expect(expected.nodes).toHaveLength(3);
    expect(expected.rels).toHaveLength(1); // B-COMPETES_WITH->C

    // Seeded shuffles (reproducible), applied in batches of 1 to 3 records, then the whole log again (a stale member's redelivery).
    let seed = 19;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 6; round++) {
      const p = prefix();
      const records = log(p);
      if (round === 0) records.reverse();
      else for (let i = records.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [records[i], records[j]] = [records[j]!, records[i]!];
      }
      for (let i = 0; i < records.length;) {
        const n = 1 + Math.floor(random() * 3);
        await write(...records.slice(i, i + n));
        i += n;
      }
      expect(await graph(p), `order ${records.map((r) => r.version).join(',')}`).toEqual(expected);
      expect(await write(...log(p))).toBe(log(p).length); // all refused: the graph holds every one of them or newer
      expect(await graph(p)).toEqual(expected);
    }
  });
});
