// `marketstream doctor` and `marketstream --version`, run as the real CLI against the running servers. The stack is
// shared, so the test works on its own namespace: PRICE_UPDATES_TOPIC names a fresh price topic (with its DLQ holding
// one dead letter and its subject registered), KAFKA_GROUP_PREFIX fresh groups. A FAIL is caused for real: Redis
// pointed at a closed port, and every server pointed at a listener that never answers (--timeout).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { Check } from '../../ops/doctor/index.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdatesOf } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger } from '../helpers/index.ts';
import { startSilentServer, type SilentServer } from '../helpers/tcp-proxy.ts';

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, ['bin/marketstream.js', ...args],
    { env: { ...process.env, LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
}

interface JsonReport { marketstream: string; exitCode: number; counts: Record<string, number>; checks: Check[] }

const byId = (r: JsonReport, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('marketstream doctor', () => {
  const prices = randomName('test-doctor');
  const prefix = randomName('test-doctor-groups');
  const env = { PRICE_UPDATES_TOPIC: prices, KAFKA_GROUP_PREFIX: prefix, TOPIC_PARTITIONS: '2' };
  const config = testConfig(env);
  const topic = priceUpdatesOf(config);
  let kafka: Kafka;

  beforeAll(async () => {
    kafka = testKafka(config);
    await ensureTopics(kafka, config, [topic]);
    const serde = createSerde(config);
    const publisher = createPublisher({ kafka, serde, logger: testLogger('doctor-test') });
    await publisher.connect();
    try {
      const b = bar(randomSymbol(), 0, 100);
      await publisher.send(topic, [b], { source: 'test' }); // registers <topic>-value (BACKWARD)
      await publisher.deadLetter(topic, [{ key: b.symbol, value: await serde.encode(topic, b), error: new ValidationError('doctor test dead letter') }]);
    } finally {
      await publisher.disconnect();
    }
  });

  afterAll(async () => {
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('reports every server ok with its version, the topics, subjects, groups, DLQ sizes and Claude, as JSON', async () => {
    const key = `sk-ant-doctor-${randomName('key')}`;
    const run = await cli(['doctor', '--json'], { ...env, ANTHROPIC_API_KEY: key, ANTHROPIC_MODEL: 'claude-doctor-test' });
    const report = JSON.parse(run.stdout) as JsonReport;
    expect(report.marketstream).toBe(pkg.version);
    // Exit 0 unless some check FAILed; warnings (a shared stack's DLQs, other topics' partitions) do not fail.
    const failed = report.checks.filter((c) => c.status === 'fail');
    expect(run.code).toBe(failed.length ? 1 : 0);
    expect(report.exitCode).toBe(run.code);
    // Every server is up and this test's topics, subject and groups are healthy (the DLQ's one record only warns): exit 0.
    expect(failed.map((c) => `${c.id}: ${c.summary}`)).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(report.exitCode).toBe(0);

    for (const id of ['server.kafka', 'server.schema-registry', 'server.postgres', 'server.redis', 'server.neo4j']) {
      const c = byId(report, id);
      expect(c.status, `${id}: ${c.summary}`).not.toBe('fail');
      expect(c.version, id).toBeTruthy();
    }
    // Versions read from the servers themselves (the registry's may come from the local stack's build).
    expect(byId(report, 'server.kafka').version).toMatch(/^\d+\.\d+/);
    expect(byId(report, 'server.kafka').summary).toMatch(/metadata\.version \d+\.\d+-IV\d+/);
    expect(byId(report, 'server.postgres').version).toMatch(/^\d+(\.\d+)?$/);
    expect(byId(report, 'server.redis').version).toMatch(/^\d+\.\d+\.\d+/);
    expect(byId(report, 'server.neo4j').version).toMatch(/^\d+\.\d+\.\d+/);
    expect(byId(report, 'server.schema-registry').version).not.toBe('unknown');

    const main = byId(report, `topic.${topic.name}`);
    expect(main).toMatchObject({ status: 'ok', data: { exists: true, partitions: 2, replicationFactor: 1 } });
    expect(byId(report, `topic.${topic.dlq}`)).toMatchObject({ status: 'ok', data: { exists: true, partitions: 1 } });
    expect(byId(report, 'topic.market-events').data).toMatchObject({ exists: true });

    expect(byId(report, `subject.${topic.subject}`)).toMatchObject({ status: 'ok', data: { registered: true, versions: 1, compatibility: 'BACKWARD' } });

    const dlq = byId(report, `dlq.${topic.dlq}`);
    expect(dlq).toMatchObject({ status: 'warn', data: { records: 1 } });
    expect(dlq.hint).toContain(`dlq stats --topic ${topic.dlq}`);
    expect(dlq.hint).toContain(`inspect tail ${topic.dlq}`);

    for (const sink of ['postgres', 'redis', 'neo4j', 'enricher']) {
      const g = byId(report, `group.${sink}`);
      expect(g.status).toBe('ok');
      expect(g.data).toMatchObject({ groupId: expect.stringMatching(new RegExp(`^${prefix}\\.`)), members: 0, totalLag: 0 });
    }

    expect(byId(report, 'tool.node')).toMatchObject({ status: 'ok', version: process.versions.node });
    expect(byId(report, 'claude')).toMatchObject({ status: 'info', data: { configured: true, model: 'claude-doctor-test' } });
    expect(run.stdout).not.toContain(key);
  });

  it('FAILs a server on a closed port quickly, with a hint, no secret, and exit code 1', async () => {
    const secret = `pw-${randomName('doctor')}`;
    const run = await cli(['doctor'], { ...env, REDIS_URL: `redis://:${secret}@127.0.0.1:1` });
    expect(run.code).toBe(1);
    expect(run.ms).toBeLessThan(15_000);
    const line = run.stdout.split('\n').findIndex((l) => /^\s+FAIL\s+Redis\s/.test(l));
    expect(line, run.stdout).toBeGreaterThanOrEqual(0);
    const [failLine, hintLine] = run.stdout.split('\n').slice(line, line + 2);
    expect(failLine).toContain('redis://:***@127.0.0.1:1');
    expect(failLine).toContain('ECONNREFUSED');
    expect(hintLine).toMatch(/↳ .*REDIS_URL/);
    expect(run.stdout).toMatch(/^\s+ok\s+Kafka\s/m);
    expect(run.stdout).toMatch(/\d+ FAIL\b.* in [\d.]+ s: exit 1$/m);
    expect(`${run.stdout}${run.stderr}`).not.toContain(secret);

    const json = await cli(['doctor', '--json', '--timeout', '3'], { ...env, REDIS_URL: `redis://:${secret}@127.0.0.1:1` });
    expect(json.code).toBe(1);
    const redis = byId(JSON.parse(json.stdout) as JsonReport, 'server.redis');
    expect(redis).toMatchObject({ status: 'fail', data: { code: 'ECONNREFUSED', localStack: false } });
    expect(redis.hint).toContain('REDIS_URL');
    expect(json.stdout).not.toContain(secret);
  });

  it('exits 2 naming the variable when the configuration is invalid', async () => {
    const run = await cli(['doctor'], { TOPIC_PARTITIONS: 'many' });
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/FAIL\s+configuration\s+Invalid configuration/);
    expect(run.stdout).toContain('TOPIC_PARTITIONS');
  });
});

describe('marketstream --version', () => {
  it('prints the package version and exits 0', async () => {
    for (const flag of ['--version', '-V']) {
      const run = await cli([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(pkg.version);
    }
  });
});

// Each check gives up after --timeout: every server address points at a listener that accepts the connection and never
// answers (what a frozen process or a half-open network path looks like), so only the time limit ends each check.
describe('marketstream doctor --timeout against servers that hang', () => {
  let silent: SilentServer;
  beforeAll(async () => { silent = await startSilentServer(); });
  afterAll(async () => { await silent?.close(); });

  it('FAILs every server when its --timeout runs out, each after that time, and exits 1', async () => {
    const at = `127.0.0.1:${silent.port}`;
    const run = await cli(['doctor', '--json', '--timeout', '2'], {
      KAFKA_BROKERS: at, SCHEMA_REGISTRY_URL: `http://${at}`, POSTGRES_URL: `postgres://u:p@${at}/db`, REDIS_URL: `redis://${at}`, NEO4J_URL: `bolt://${at}`,
    });
    const report = JSON.parse(run.stdout) as JsonReport & { ms: number };
    expect(run.code).toBe(1);
    expect(silent.accepted()).toBeGreaterThanOrEqual(5); // every client reached the listener: nothing was refused
    for (const id of ['server.kafka', 'server.schema-registry', 'server.postgres', 'server.redis', 'server.neo4j']) {
      const c = byId(report, id);
      expect(c.status, `${id}: ${c.summary}`).toBe('fail');
      expect(c.summary, id).toMatch(/no answer within 2000 ms|timed? ?out|timeout/i);
      // Given up at the limit (a driver's own timeout of the same length may come first), not at the default 5 s.
      expect(c.ms, `${id}: ${c.summary}`).toBeGreaterThanOrEqual(1900);
      expect(c.ms, `${id}: ${c.summary}`).toBeLessThan(4500);
    }
    expect(byId(report, 'topics')).toMatchObject({ status: 'skip' });
    expect(report.ms).toBeLessThan(4500);
  });
});
