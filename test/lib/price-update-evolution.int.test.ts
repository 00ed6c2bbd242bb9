// price-update version 2 (vwap, trades) against the real Schema Registry, both directions: code built on version 1
// reads version-2 records (the writer's schema fetched by the id in the record, resolved into the reader's schema), and
// version-2 code reads version-1 records (the new fields take their default). The subject keeps BACKWARD; an
// incompatible change is refused with the registry's own reason; Confluent's wire format and subject naming are
// unchanged. SCHEMA_AUTO_REGISTER=false: producers only look the id up. Every test uses its own random topic/subject.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, describe, expect, it } from 'vitest';
import { SchemaRejectedError } from '../../lib/errors.ts';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import { createSerde } from '../../lib/serde.ts';
import { loadSchema } from '../../schemas/avro.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { randomName, testConfig } from '../helpers/index.ts';

const config = testConfig();
const rest = createSchemaRegistryClient(config);
const tmp = mkdtempSync(path.join(tmpdir(), 'price-evolution-'));
const subjects: string[] = [];
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  for (const s of subjects) {
    await rest.request('DELETE', `/subjects/${s}`).catch(() => {});
    await rest.request('DELETE', `/subjects/${s}?permanent=true`).catch(() => {});
  }
});

// The fields added since version 1: vwap and trades (version 2), final and adjusted (version 3).
type V1 = Omit<PriceUpdate, 'vwap' | 'trades' | 'final' | 'adjusted'>;
const V2_FIELDS = ['vwap', 'trades', 'final', 'adjusted'];

/** A schema file next to the current contract: version 1 (without vwap and trades), or the current one changed. */
function schemaFile(name: string, change: (fields: Record<string, unknown>[]) => Record<string, unknown>[]): string {
  const json = structuredClone(loadSchema(priceUpdates.schemaFile).json) as { fields: Record<string, unknown>[] };
  json.fields = change(json.fields);
  const file = path.join(tmp, `${name}.avsc`);
  writeFileSync(file, JSON.stringify(json));
  return file;
}
const v1File = schemaFile('v1', (fields) => fields.filter((f) => !V2_FIELDS.includes(f.name as string)));

/** price-updates under a random name (so a random subject): `v2` is the current contract, `v1` the one before. */
function topics(): { v1: TopicDef<V1>; v2: TopicDef<PriceUpdate> } {
  const name = randomName('test-evolve');
  const v2 = withName(priceUpdates, name);
  subjects.push(v2.subject);
  return { v2, v1: { ...(v2 as unknown as TopicDef<V1>), schemaFile: v1File } };
}

const base: V1 = { symbol: 'AAPL', interval: '1m', eventTime: 1_767_625_200_000, open: 190.1, high: 191, low: 189.5, close: 190.7, volume: 12_345,
  source: 'synthetic', ingestTime: 1_767_625_260_000, quality: 1 };

describe('price-update v1 ↔ v2 (real Schema Registry)', () => {
  it('v1 code reads v2 records and v2 code reads v1 records; versions 1 and 2 under <topic>-value, BACKWARD', async () => {
    const { v1, v2 } = topics();
    const producerV1 = createSerde(config);
    const producerV2 = createSerde(config);
    const oldBytes = await producerV1.encode(v1, base);
    const newBytes = await producerV2.encode(v2, { ...base, close: 190.9, vwap: 190.42, trades: 87 });
    const [id1, id2] = [oldBytes.readInt32BE(1), newBytes.readInt32BE(1)];
    expect(id2).not.toBe(id1);
    expect(await rest.request('GET', `/subjects/${v2.name}-value/versions`)).toEqual([1, 2]);
    expect(await rest.request('GET', `/config/${v2.subject}?defaultToGlobal=false`)).toMatchObject({ compatibilityLevel: 'BACKWARD' });

    // Fresh serdes: each fetches the writer schema by the id in the record, and resolves it into its own schema.
    const consumerV1 = createSerde(config);
    const consumerV2 = createSerde(config);
    expect(await consumerV1.decode(v1, newBytes)).toEqual({ value: { ...base, close: 190.9 }, schemaId: id2 });
    expect(await consumerV1.decode(v1, oldBytes)).toEqual({ value: base, schemaId: id1 });
    expect(await consumerV2.decode(v2, oldBytes)).toEqual({ value: { ...base, vwap: null, trades: null, final: null, adjusted: null }, schemaId: id1 });
    expect(await consumerV2.decode(v2, newBytes)).toEqual({ value: { ...base, close: 190.9, vwap: 190.42, trades: 87, final: null, adjusted: null }, schemaId: id2 });

    // Confluent wire format: a stock Confluent client decodes both, each with its own writer schema.
    expect(newBytes[0]).toBe(0);
    const stock = new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL });
    expect(await stock.decode(newBytes)).toMatchObject({ vwap: 190.42, trades: 87 });
    expect(await stock.decode(oldBytes)).not.toHaveProperty('vwap');
  });

  it('a v2 record without vwap and trades is written with nulls, and v1 code still reads it', async () => {
    const { v1, v2 } = topics();
    const serde = createSerde(config);
    await serde.encode(v1, base); // version 1 first, as in production
    const bytes = await serde.encode(v2, base);
    expect(await serde.decode(v2, bytes)).toMatchObject({ value: { ...base, vwap: null, trades: null, final: null, adjusted: null } });
    expect((await createSerde(config).decode(v1, bytes)).value).toEqual(base);
  });

  it('the registry refuses an incompatible change (a new field without a default) with its own reason', async () => {
    const { v1, v2 } = topics();
    const serde = createSerde(config);
    await serde.encode(v2, { ...base, vwap: 190.4, trades: 3 });
    const bad: TopicDef<unknown> = { ...(v1 as TopicDef<unknown>),
      schemaFile: schemaFile('bad', (fields) => [...fields, { name: 'currency', type: 'string' }]) };
    const err = await serde.schemaId(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaRejectedError);
    // the registry's message names the field (AxonOps: "reader field 'currency' has no default and is missing from writer")
    expect((err as Error).message).toMatch(/incompatible/i);
    expect((err as Error).message).toMatch(/currency/);
    expect(await rest.request('GET', `/subjects/${v2.subject}/versions`)).toEqual([1]);
  });

  it('SCHEMA_AUTO_REGISTER=false: producers look up the registered id, and fail clearly when it is not registered', async () => {
    const manual = testConfig({ SCHEMA_AUTO_REGISTER: 'false' });
    expect(manual.SCHEMA_AUTO_REGISTER).toBe(false);
    expect(config.SCHEMA_AUTO_REGISTER).toBe(true);
    const { v1, v2 } = topics();
    const err = await createSerde(manual).encode(v2, base).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaRejectedError);
    expect((err as Error).message).toMatch(new RegExp(`${v2.subject} is not registered.*SCHEMA_AUTO_REGISTER=false.*marketstream schema register`));
    expect(await rest.request('GET', `/subjects/${v2.subject}/versions`).catch((e: { status?: number }) => e.status)).toBe(404); // nothing registered

    // registered explicitly (v1), then v2 is not: the v1 producer works, the v2 producer still fails
    const id1 = await createSerde(config).schemaId(v1);
    const lookedUp = createSerde(manual);
    expect((await lookedUp.encode(v1, base)).readInt32BE(1)).toBe(id1);
    expect(await lookedUp.schemaId(v2).catch((e: unknown) => e)).toBeInstanceOf(SchemaRejectedError);
    expect(await rest.request('GET', `/subjects/${v2.subject}/versions`)).toEqual([1]);
  });
});

/** The current contract with its PriceSource enum changed (version 3 is the current one). */
type SourceEnum = { type: 'enum'; name: string; symbols: string[]; default?: string };
function withSourceEnum(name: string, change: (e: SourceEnum) => SourceEnum): string {
  return schemaFile(name, (fields) => fields.map((f) => (f.name === 'source' ? { ...f, type: change(f.type as SourceEnum) } : f)));
}

describe('price-update version 3: PriceSource gains alphavantage, twelvedata and a default (real Schema Registry)', () => {
  it('registers after version 2 under BACKWARD; reads version 2 records, and a later version\'s new source as unknown; version 2 code cannot read it',
    async () => {
    const name = randomName('test-evolve-enum');
    const v3 = withName(priceUpdates, name);
    subjects.push(v3.subject);
    const v2 = { ...v3, schemaFile: withSourceEnum('v2-enum', ({ default: _, ...e }) => ({ ...e, symbols: ['yahoo', 'synthetic', 'file', 'backfill'] })) };
    const later = { ...v3, schemaFile: withSourceEnum('v4-enum', (e) => ({ ...e, symbols: [...e.symbols, 'polygon'] })) } as TopicDef<unknown>;
    const serde = createSerde(config);
    const old = await serde.encode(v2, base);
    const fromTwelveData = await serde.encode(v3, { ...base, source: 'twelvedata', vwap: null, trades: null });
    const fromYahoo = await serde.encode(v3, { ...base, source: 'yahoo' });
    const fromPolygon = await serde.encode(later, { ...base, source: 'polygon' });
    expect(await rest.request('GET', `/subjects/${v3.subject}/versions`)).toEqual([1, 2, 3]);
    expect(await rest.request('GET', `/config/${v3.subject}?defaultToGlobal=false`)).toMatchObject({ compatibilityLevel: 'BACKWARD' });

    const reader = createSerde(config);
    expect((await reader.decode(v3, old)).value).toMatchObject({ source: 'synthetic' });
    expect((await reader.decode(v3, fromTwelveData)).value).toMatchObject({ source: 'twelvedata' });
    // A source added after version 3 reads as its default: the record is kept, its source unknown.
    expect((await reader.decode(v3, fromPolygon)).value).toMatchObject({ source: 'unknown', close: base.close });
    // Version 2 code cannot read version 3 records at all, whatever their source: its enum has no default, and avsc
    // resolves the writer's enum into the reader's once per schema, not per value. BACKWARD promises new code reading
    // old records, not the reverse: consumers are upgraded before producers (README "Price sources and failover").
    const oldReader = createSerde(config);
    for (const bytes of [fromYahoo, fromTwelveData]) {
      await expect(oldReader.decode(v2, bytes)).rejects.toThrow(/cannot read "marketstream.prices.PriceSource" as "marketstream.prices.PriceSource"/);
    }
  });
});
