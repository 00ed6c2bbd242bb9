// The typed serde against the real Schema Registry: round trips of the three contracts in the Confluent wire format,
// BACKWARD evolution (incompatible schemas refused, old and new records readable by old and new code), and the
// split between bad bytes (DecodeError) and an unreachable registry (TransientError).
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { DecodeError, SchemaRejectedError, TransientError } from '../../lib/errors.ts';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import { schemaCacheDir } from '../../lib/schema-cache.ts';
import { createSerde } from '../../lib/serde.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { startTestRegistry } from '../helpers/registry.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const config = loadConfig();
const serde = createSerde(config);
const rest = createSchemaRegistryClient(config);
const unique = (what: string) => `test-serde-${what}-${randomUUID().slice(0, 8)}`;
const tmp = mkdtempSync(path.join(tmpdir(), 'serde-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const price: PriceUpdate = { symbol: 'AAPL', interval: '1m', eventTime: 1_767_625_200_000, open: 190.1, high: 191, low: 189.5, close: 190.7, volume: 12_345,
  source: 'synthetic', ingestTime: 1_767_625_260_000, quality: 1, vwap: 190.42, trades: 57, final: null, adjusted: null };
const event: MarketEvent = { id: 'ev-1', symbols: ['AAPL', 'MSFT'], headline: 'Apple and Microsoft', summary: null, source: 'Reuters',
  url: 'https://example.com/a', publishedAt: 1_767_625_200_000, category: 'STORY', ingestTime: 1_767_625_300_000 };
const mutation: GraphMutation = {
  mutationTime: 1_767_625_200_000, origin: 'correlation', enrichment: null,
  op: { UpsertRelationship: { type: 'CORRELATED_WITH', from: { label: 'Company', key: 'AAPL' }, to: { label: 'Company', key: 'MSFT' },
    properties: { coefficient: 0.87, window_days: 30n, method: 'pearson', symbols: ['AAPL', 'MSFT'], note: null, significant: true } } },
};

/** A topic whose value schema is written to a temp file (an absolute schemaFile). */
function topicWithSchema<T>(name: string, version: string, fields: unknown[]): TopicDef<T> {
  const file = path.join(tmp, `${name}-${version}.avsc`);
  writeFileSync(file, JSON.stringify({ type: 'record', name: 'Quote', namespace: 'marketstream.test', fields }));
  return { ...withName(priceUpdates as unknown as TopicDef<T>, name), schemaFile: file, key: () => 'k' };
}

describe('serde (real Schema Registry)', () => {
  it.each([
    ['price-update', priceUpdates as TopicDef<unknown>, price],
    ['market-event', marketEvents as TopicDef<unknown>, event],
    ['graph-mutation', graphMutations as TopicDef<unknown>, mutation],
  ])('%s round-trips in the Confluent wire format under <topic>-value, BACKWARD', async (_, base, value) => {
    const topic = withName(base, unique('rt'));
    const bytes = await serde.encode(topic, value);
    const id = await serde.schemaId(topic);
    expect(bytes[0]).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(id);
    expect(await serde.decode(topic, bytes)).toEqual({ value, schemaId: id });
    expect(await rest.request('GET', `/subjects/${topic.subject}/versions/latest`)).toMatchObject({ id, subject: topic.subject });
    expect(await rest.request('GET', `/config/${topic.subject}?defaultToGlobal=false`)).toMatchObject({ compatibilityLevel: 'BACKWARD' });
  });

  it('writes bytes a stock Confluent client decodes', async () => {
    const topic = withName(priceUpdates, unique('confluent'));
    const bytes = await serde.encode(topic, price);
    const stock = new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL });
    expect(await stock.decode(bytes)).toEqual(price);
  });

  it('registry refuses incompatible changes; old and new records are read by old and new code', async () => {
    const name = unique('evolve');
    type V1 = { symbol: string; price: number };
    type V2 = V1 & { venue: string | null };
    const base = [{ name: 'symbol', type: 'string' }, { name: 'price', type: 'double' }];
    const v1 = topicWithSchema<V1>(name, 'v1', base);
    const v2 = topicWithSchema<V2>(name, 'v2', [...base, { name: 'venue', type: ['null', 'string'], default: null }]);
    const addedRequired = topicWithSchema(name, 'bad-required', [...base, { name: 'currency', type: 'string' }]);
    const changedType = topicWithSchema(name, 'bad-type', [{ name: 'symbol', type: 'string' }, { name: 'price', type: 'string' }]);

    const old = await serde.encode(v1, { symbol: 'AAPL', price: 1.5 });
    const id1 = await serde.schemaId(v1);

    for (const bad of [addedRequired, changedType]) {
      const err = await serde.schemaId(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaRejectedError);
      expect((err as SchemaRejectedError).retriable).toBe(false);
    }

    const fresh = await serde.encode(v2, { symbol: 'MSFT', price: 2.5, venue: 'XNAS' });
    const id2 = await serde.schemaId(v2);
    expect(id2).not.toBe(id1);
    expect(await rest.request('GET', `/subjects/${v1.subject}/versions`)).toEqual([1, 2]);

    // new code reads records written under the old schema (the new field takes its default) …
    expect(await serde.decode(v2, old)).toEqual({ value: { symbol: 'AAPL', price: 1.5, venue: null }, schemaId: id1 });
    // … and old code reads records written under the new one (the unknown field is skipped)
    expect(await serde.decode(v1, fresh)).toEqual({ value: { symbol: 'MSFT', price: 2.5 }, schemaId: id2 });
  });

  it('bytes that are not a valid record are a DecodeError, not retriable', async () => {
    const topic = withName(priceUpdates, unique('bad'));
    const good = await serde.encode(topic, price);
    const header = good.subarray(0, 5);
    const bad = [
      Buffer.from('{"symbol":"AAPL"}'), // JSON, magic byte '{'
      Buffer.from([0, 0, 0]), // too short
      Buffer.concat([header, Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f])]), // string length beyond the body
      good.subarray(0, good.length - 3), // truncated
      Buffer.concat([good, Buffer.from([1, 2, 3])]), // trailing bytes
    ];
    for (const bytes of bad) {
      const err = await serde.decode(topic, bytes).catch((e: unknown) => e);
      expect(err, bytes.toString('hex')).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).retriable).toBe(false);
    }
  });

  it('an unknown schema id is a DecodeError', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from([2, 65])]);
    const err = await serde.decode(priceUpdates, bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecodeError);
    expect(String((err as Error).message)).toMatch(/unknown schema id/);
  });

  it('an unreachable registry is a TransientError; a known schema id keeps decoding without it', async () => {
    const topic = withName(priceUpdates, unique('transient'));
    const target = new URL(config.SCHEMA_REGISTRY_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const viaProxy = createSerde({ ...config, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}` });
      const bytes = await viaProxy.encode(topic, price);
      await viaProxy.decode(topic, bytes);
      proxy.cut();
      // cached schema: encoding and decoding go on with the registry cut off
      for (let i = 0; i < 1000; i++) expect((await viaProxy.decode(topic, await viaProxy.encode(topic, { ...price, close: i }))).value.close).toBe(i);
      // a schema id this serde has not seen needs the registry: transient, so a consumer pauses instead of dead-lettering
      const other = withName(marketEvents, unique('transient-ev'));
      const otherBytes = await serde.encode(other, event);
      const err = await viaProxy.decode(other, otherBytes).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect(await viaProxy.schemaId(withName(priceUpdates, unique('transient-reg'))).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
      proxy.restore();
      expect((await viaProxy.decode(other, otherBytes)).value).toEqual(event);
    } finally {
      await proxy.close();
    }
  });

  it('a schema a registry at the same address served before (kept on disk) never overrides what the registry answers now, and serves while it cannot answer',
    async () => {
    // As after `docker compose down -v`: a new registry at the same address numbers its schemas from 1 again, so the
    // disk cache can hold another schema under an id the registry now gives to ours.
    const cacheDir = mkdtempSync(path.join(tmp, 'schema-cache-'));
    const target = new URL(config.SCHEMA_REGISTRY_URL);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const cfg = { ...config, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}`, SCHEMA_CACHE_DIR: cacheDir };
      const topic = withName(priceUpdates, unique('recreated'));
      const bytes = await createSerde(cfg).encode(topic, price);
      const id = bytes.readInt32BE(1);
      // What the earlier registry said id `id` was: another record type entirely.
      const other = JSON.stringify({ type: 'record', name: 'Other', namespace: 'marketstream.test', fields: [{ name: 'x', type: 'string' }] });
      const dir = schemaCacheDir(cfg);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, schema: other }));

      expect((await createSerde(cfg).decode(topic, bytes)).value).toEqual(price); // the registry's answer, not the stale copy
      // A fresh process while the registry cannot answer: the copy on disk (now the right one) keeps records decoding.
      proxy.cut();
      expect((await createSerde(cfg).decode(topic, bytes)).value).toEqual(price);
    } finally {
      await proxy.close();
    }
  });
  it('the copy on disk is used only while the registry cannot answer: an unknown id on a reachable registry is a DecodeError', async () => {
    const cacheDir = mkdtempSync(path.join(tmp, 'schema-cache-'));
    const id = 0x7ffffff0; // above any id the registry lists
    const bytes = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from([2, 65])]);
    const topic = topicWithSchema<{ s: string }>(unique('disk'), 'v1', [{ name: 's', type: 'string' }]);
    const keep = (cfg: typeof config) => {
      const dir = schemaCacheDir(cfg);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, schema: readFileSync(topic.schemaFile, 'utf8') }));
    };
    // A reachable registry answers 404 for an id above its highest: definitive, whatever the disk says.
    const reachable = { ...config, SCHEMA_CACHE_DIR: cacheDir };
    keep(reachable);
    const err = await createSerde(reachable).decode(topic, bytes).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecodeError);
    expect(String((err as Error).message)).toMatch(/unknown schema id/);
    // Nothing listens on the registry's address (connection refused): the copy on disk keeps the record decoding.
    const closed = await startTcpProxy({ host: '127.0.0.1', port: 1 });
    const port = closed.port;
    await closed.close();
    const unreachable = { ...config, SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}`, SCHEMA_CACHE_DIR: cacheDir };
    keep(unreachable);
    expect(await createSerde(unreachable).decode(topic, bytes)).toEqual({ value: { s: 'A' }, schemaId: id });
  });
  it('a registry answering 404 for an id it has while its storage is down is an outage: the copy on disk keeps the record decoding', async () => {
    // As the local registry does while its PostgreSQL is down (STACK-NOTES): "not found" for every id, and no list.
    const pgUrl = new URL(config.POSTGRES_URL);
    const storage = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    const registry = await startTestRegistry(config, { postgresPort: storage.port });
    try {
      const cfg = { ...config, SCHEMA_REGISTRY_URL: registry.url, SCHEMA_CACHE_DIR: mkdtempSync(path.join(tmp, 'schema-cache-')) };
      const topic = withName(priceUpdates, unique('storage-down'));
      const bytes = await createSerde(cfg).encode(topic, price);
      await createSerde(cfg).decode(topic, bytes); // fetched by id once: kept on disk
      storage.cut();
      expect((await fetch(`${registry.url}/schemas/ids/${bytes.readInt32BE(1)}`)).status).toBe(404);
      expect((await createSerde(cfg).decode(topic, bytes)).value).toEqual(price);
      // Without a copy on disk, the same answer is retried (TransientError), never taken for an unknown id.
      const empty = { ...cfg, SCHEMA_CACHE_DIR: mkdtempSync(path.join(tmp, 'schema-cache-')) };
      expect(await createSerde(empty).decode(topic, bytes).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
    } finally {
      await registry.kill();
      await storage.close();
    }
  }, 60_000);
});
