// Secrets never reach the logs nor the health and metrics endpoints: real commands run at debug level with
// recognisable secret values that still work against the local stack (a Neo4j user created for the test with that
// password, a Redis ACL user whose password is in REDIS_URL; the registry ignores basic auth it does not ask for), or
// that the store refuses (a password in POSTGRES_URL and its query string: the driver's errors are logged and shown
// while it retries), and their whole output is searched for the values.
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceUpdates, withName } from '../../topics/index.ts';
import { deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, waitFor } from '../helpers/index.ts';
import { startCli, type CliProcess } from './cli-process.ts';
import { ready, scrape, total } from '../helpers/metrics.ts';

describe('secrets in logs', () => {
  const tag = randomName('s3cret').replace(/-/g, '');
  const secrets = {
    NEO4J_PASSWORD: `neo4j-${tag}`,
    SCHEMA_REGISTRY_PASSWORD: `registry-${tag}`,
    ANTHROPIC_API_KEY: `sk-ant-api03-${tag}`,
  };
  const topic = withName(priceUpdates, randomName('test-secrets'));
  // The local Neo4j runs with auth on: a user of its own for the secret password (never the shared neo4j user's).
  const neo4jUser = randomName('test_secrets').replace(/-/g, '_');
  const base = testConfig();
  const neo4jAdmin = neo4j.driver(base.NEO4J_URL, neo4j.auth.basic(base.NEO4J_USER, base.NEO4J_PASSWORD), { logging: { level: 'error', logger: () => {} } });
  const env = {
    ...secrets, NEO4J_USER: neo4jUser, SCHEMA_REGISTRY_USERNAME: 'marketstream', KAFKA_SASL_PASSWORD: undefined,
    LOG_LEVEL: 'debug', PRICE_UPDATES_TOPIC: topic.name, KAFKA_GROUP_PREFIX: randomName('test-secrets'),
  };
  /** The values, and the forms they could leak in: the registry's Authorization header, URL-encoded. */
  const forbidden = [
    ...Object.values(secrets),
    Buffer.from(`marketstream:${secrets.SCHEMA_REGISTRY_PASSWORD}`).toString('base64'),
    ...Object.values(secrets).map(encodeURIComponent),
  ];
  const children: CliProcess[] = [];
  const kafka = testKafka();

  beforeAll(async () => {
    await neo4jAdmin.executeQuery('CREATE USER $user SET PASSWORD $password CHANGE NOT REQUIRED',
      { user: neo4jUser, password: secrets.NEO4J_PASSWORD }, { database: 'system' });
  });
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
    await neo4jAdmin.executeQuery('DROP USER $user IF EXISTS', { user: neo4jUser }, { database: 'system' }).catch(() => {});
    await neo4jAdmin.close();
  });

  it('produce prices and consume neo4j at debug level print none of the secret values', async () => {
    const symbol = randomSymbol();
    const produce = startCli(['produce', 'prices', '--count', '1', '--symbols', symbol], env);
    children.push(produce);
    expect(await produce.exited, produce.output().slice(-2000)).toEqual({ code: 0, signal: null });

    const consume = startCli(['consume', 'neo4j'], env);
    children.push(consume);
    const url = await consume.url();
    await waitFor(async () => (await ready(url)).status === 200, { what: 'consume neo4j ready', timeoutMs: 60_000 });
    await waitFor(async () => total(await scrape(url), 'marketstream_records_consumed_total', { topic: topic.name }) >= 1,
      { what: 'the price written to Neo4j' });
    const endpoints = [await scrape(url), await (await fetch(`${url}/health`)).text(), await (await fetch(`${url}/ready`)).text()].join('\n');
    consume.child.kill('SIGTERM');
    expect(await consume.exited).toEqual({ code: 0, signal: null });

    for (const [what, text] of [['produce prices output', produce.output()], ['consume neo4j output', consume.output()],
      ['health and metrics endpoints', endpoints]] as const) {
      expect(text.length, what).toBeGreaterThan(0);
      for (const secret of forbidden) expect(text.includes(secret), `${what} contains a secret value`).toBe(false);
    }
    // The runs really logged at debug level (level 20), so debug-only lines were searched too.
    expect(consume.logs().some((l) => l.level === 20)).toBe(true);
  });

  it('passwords in store URLs (accepted or refused) appear in no log line, /health nor /ready', async () => {
    const redisUser = randomName('test-secrets');
    const redisPassword = `redis-url-${tag}`;
    const pgPassword = `pg-url-${tag}`;
    const pgSslPassword = `pg-ssl-${tag}`;
    const admin = new Redis(base.REDIS_URL, { lazyConnect: true });
    admin.on('error', () => {});
    await admin.connect();
    await admin.call('ACL', 'SETUSER', redisUser, 'on', `>${redisPassword}`, '~*', '&*', '+@all');
    try {
      const redisUrl = new URL(base.REDIS_URL);
      redisUrl.username = redisUser;
      redisUrl.password = redisPassword;
      // A role that does not exist, with its password in the URL and in the query string: PostgreSQL refuses (28P01)
      // and the group keeps retrying, logging the driver's errors.
      const pgUrl = new URL(base.POSTGRES_URL);
      pgUrl.username = randomName('nobody').replace(/-/g, '_');
      pgUrl.password = pgPassword;
      pgUrl.searchParams.set('sslpassword', pgSslPassword);
      const urls = { ...env, REDIS_URL: redisUrl.toString(), POSTGRES_URL: pgUrl.toString() };
      const forbiddenHere = [redisPassword, pgPassword, pgSslPassword].flatMap((x) => [x, encodeURIComponent(x)]);

      const config = startCli(['config'], urls);
      children.push(config);
      expect(await config.exited, config.output().slice(-2000)).toEqual({ code: 0, signal: null });

      const consumeRedis = startCli(['consume', 'redis'], urls);
      const consumePg = startCli(['consume', 'postgres'], urls);
      children.push(consumeRedis, consumePg);
      const redisAt = await consumeRedis.url();
      const pgAt = await consumePg.url();
      await waitFor(async () => (await ready(redisAt)).status === 200, { what: 'consume redis ready', timeoutMs: 60_000 });
      await waitFor(() => consumePg.logs().some((l) => l.msg === 'store not reachable yet; retrying'),
        { what: 'consume postgres retrying its refused store', timeoutMs: 60_000 });
      const pgHealth = await (await fetch(`${pgAt}/health`)).text();
      const endpoints = [
        await (await fetch(`${redisAt}/health`)).text(), await (await fetch(`${redisAt}/ready`)).text(), await scrape(redisAt),
        pgHealth, await (await fetch(`${pgAt}/ready`)).text(), await scrape(pgAt),
      ].join('\n');
      for (const c of [consumeRedis, consumePg]) c.child.kill('SIGTERM');
      await Promise.all([consumeRedis.exited, consumePg.exited]);

      for (const [what, text] of [['config output', config.output()], ['consume redis output', consumeRedis.output()],
        ['consume postgres output', consumePg.output()], ['health and metrics endpoints', endpoints]] as const) {
        expect(text.length, what).toBeGreaterThan(0);
        for (const secret of [...forbidden, ...forbiddenHere]) expect(text.includes(secret), `${what} contains a secret value`).toBe(false);
      }
      expect(endpoints, 'the endpoints show a stack trace').not.toMatch(/(\n|\\n)\s+at [\w.<]/);
      // The user names and hosts stay; only the passwords are masked.
      expect(config.output()).toContain(`${redisUser}:***@`);
      expect(consumePg.logs().some((l) => l.msg === 'store not reachable yet; retrying' && String(l.err).includes('28P01'))).toBe(true);
      expect(pgHealth).not.toMatch(/password authentication failed/);
    } finally {
      await admin.call('ACL', 'DELUSER', redisUser).catch(() => {});
      admin.disconnect();
    }
  });
});
