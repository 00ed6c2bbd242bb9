// Secrets never reach the logs nor the health and metrics endpoints: real commands run at debug level with
// recognisable secret values that still work against the local stack (embedded Neo4j accepts any password, the
// registry ignores basic auth it does not ask for), and their whole output is searched for the values.
import { afterAll, describe, expect, it } from 'vitest';
import { priceUpdates, withName } from '../../topics/index.ts';
import { deleteTestTopics, randomName, randomSymbol, testKafka, waitFor } from '../helpers/index.ts';
import { startCli, type CliProcess } from './cli-process.ts';
import { ready, scrape, total } from './scrape.ts';

describe('secrets in logs', () => {
  const tag = randomName('s3cret').replace(/-/g, '');
  const secrets = {
    NEO4J_PASSWORD: `neo4j-${tag}`,
    SCHEMA_REGISTRY_PASSWORD: `registry-${tag}`,
    ANTHROPIC_API_KEY: `sk-ant-api03-${tag}`,
  };
  const topic = withName(priceUpdates, randomName('test-secrets'));
  const env = {
    ...secrets, SCHEMA_REGISTRY_USERNAME: 'marketstream', KAFKA_SASL_PASSWORD: undefined,
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

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
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
    await waitFor(async () => total(await scrape(url), 'marketstream_records_consumed_total', { topic: topic.name }) >= 1, { what: 'the price written to Neo4j' });
    const endpoints = [await scrape(url), await (await fetch(`${url}/health`)).text(), await (await fetch(`${url}/ready`)).text()].join('\n');
    consume.child.kill('SIGTERM');
    expect(await consume.exited).toEqual({ code: 0, signal: null });

    for (const [what, text] of [['produce prices output', produce.output()], ['consume neo4j output', consume.output()], ['health and metrics endpoints', endpoints]] as const) {
      expect(text.length, what).toBeGreaterThan(0);
      for (const secret of forbidden) expect(text.includes(secret), `${what} contains a secret value`).toBe(false);
    }
    // The runs really logged at debug level (level 20), so debug-only lines were searched too.
    expect(consume.logs().some((l) => l.level === 20)).toBe(true);
  });
});
