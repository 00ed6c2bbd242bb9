// Smoke test of the stack the integration tests run against: each server does the one thing the pipeline needs
// from it — Avro through Kafka and the Schema Registry, a row in PostgreSQL, a key with a TTL in Redis, a node in Neo4j.
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { consumeMessages, createTestTopic, deleteTestTopics, randomName, testConfig, testKafka, testLogger } from '../helpers/index.ts';

const config = testConfig();

describe('local stack smoke', () => {
  const kafka = testKafka(config);
  const topics: string[] = [];
  afterAll(() => deleteTestTopics(kafka, topics));

  it('registers an Avro schema, produces an encoded record and consumes and decodes it', async () => {
    const registry = new SchemaRegistry({ host: config.SCHEMA_REGISTRY_URL });
    const topic = await createTestTopic(kafka);
    topics.push(topic);
    const subject = `${topic}-value`;
    const schema = {
      type: 'record', name: 'SmokeQuote', namespace: 'marketstream.test',
      fields: [{ name: 'symbol', type: 'string' }, { name: 'price', type: 'double' }, { name: 'ts', type: 'long' }],
    };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
    expect(await registry.getLatestSchemaId(subject)).toBe(id);

    const value = { symbol: 'SMOKE', price: 123.25, ts: 1_767_225_600_000 };
    const encoded = await registry.encode(id, value);
    expect(encoded[0]).toBe(0); // Confluent wire format: magic byte, then the schema id
    expect(encoded.readInt32BE(1)).toBe(id);

    const publisher = createPublisher({ kafka, serde: createSerde(config), logger: testLogger('smoke-test') });
    await publisher.connect();
    await publisher.sendRaw(topic, [{ key: 'SMOKE', value: encoded }]).finally(() => publisher.disconnect());

    const [message] = await consumeMessages(kafka, topic, 1);
    expect(message?.key?.toString()).toBe('SMOKE');
    expect(await registry.decode(message?.value as Buffer)).toEqual(value);
  });

  it('writes and reads a row in PostgreSQL', async () => {
    const client = new pg.Client({ connectionString: config.POSTGRES_URL });
    await client.connect();
    const table = randomName('smoke').replaceAll('-', '_');
    try {
      await client.query(`create table ${table} (symbol text primary key, close numeric not null)`);
      await client.query(`insert into ${table} (symbol, close) values ($1, $2)`, ['SMOKE', '101.5']);
      const { rows } = await client.query(`select symbol, close from ${table} where symbol = $1`, ['SMOKE']);
      expect(rows).toEqual([{ symbol: 'SMOKE', close: '101.5' }]);
    } finally {
      await client.query(`drop table if exists ${table}`);
      await client.end();
    }
  });

  it('stores a Redis key that expires after its TTL', async () => {
    const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
    const key = randomName('smoke:key');
    try {
      await redis.set(key, 'value', 'EX', 60);
      expect(await redis.get(key)).toBe('value');
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
      await redis.pexpire(key, 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(await redis.get(key)).toBeNull();
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  });

  it('creates and reads a node in Neo4j over Bolt', async () => {
    const driver = neo4j.driver(config.NEO4J_URL, neo4j.auth.basic(config.NEO4J_USER, config.NEO4J_PASSWORD));
    const id = randomName('smoke');
    try {
      await driver.executeQuery('CREATE (:SmokeTest {id: $id, symbol: $symbol})', { id, symbol: 'SMOKE' });
      const { records } = await driver.executeQuery('MATCH (n:SmokeTest {id: $id}) RETURN n.symbol AS symbol', { id });
      expect(records.map((r) => r.get('symbol'))).toEqual(['SMOKE']);
    } finally {
      await driver.executeQuery('MATCH (n:SmokeTest {id: $id}) DELETE n', { id });
      await driver.close();
    }
  });
});
