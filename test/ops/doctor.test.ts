// The doctor's rules, without servers: version parsing, the Kafka release read from metadata.version, when a missing
// tool FAILs and when it only warns, the exit code, and what a topic, group or DLQ state turns into.
// (The checks against the real servers: test/cli/doctor.int.test.ts.)
import { describe, expect, it } from 'vitest';
import { formatReport } from '../../cli/commands/doctor.ts';
import { claudeCheck, exitCodeOf, type Check, type LocalStackServer } from '../../ops/doctor/index.ts';
import { dlqChecks, groupChecks, topicChecks } from '../../ops/doctor/kafka.ts';
import { encodeApiVersionsRequest, kafkaReleaseOf, metadataVersionName, readKafkaVersion } from '../../ops/doctor/kafka-version.ts';
import { parseRedisInfo } from '../../ops/doctor/servers.ts';
import { parseGoVersion, parseJavaVersion, parseMavenVersion, toolCheck, type ToolFinding } from '../../ops/doctor/tools.ts';
import { localServerAt, versionAtLeast } from '../../ops/doctor/util.ts';
import type { TopicView } from '../../ops/inspect/topics.ts';
import { testConfig } from '../helpers/index.ts';

const config = testConfig({ PRICE_UPDATES_TOPIC: 'price-updates', TOPIC_PARTITIONS: '6', TOPIC_REPLICATION_FACTOR: '1', ANTHROPIC_API_KEY: '' });

const local = (name: LocalStackServer['name'], port: number, needs: LocalStackServer['needs'], running = false): LocalStackServer =>
  ({ name, host: '127.0.0.1', port, product: name, version: '1.0.0', running, needs });

describe('doctor: versions', () => {
  it('parses java, mvn and go version output', () => {
    expect(parseJavaVersion('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment')).toBe('17.0.15');
    expect(parseJavaVersion('java version "1.8.0_381"')).toBe('8.0.381');
    expect(parseJavaVersion('openjdk version "21" 2023-09-19')).toBe('21');
    expect(parseMavenVersion('\x1b[1mApache Maven 3.8.7\x1b[m\nMaven home: /usr/share/maven')).toBe('3.8.7');
    expect(parseGoVersion('go version go1.26.8 linux/amd64')).toBe('1.26.8');
    expect(versionAtLeast('17.0.15', '17')).toBe(true);
    expect(versionAtLeast('8.0.381', '17')).toBe(false);
    expect(versionAtLeast('1.22.3', '1.24')).toBe(false);
    expect(versionAtLeast('24.21.0', '24')).toBe(true);
  });

  it('names the Kafka release from the highest metadata.version the broker supports', () => {
    expect(metadataVersionName(33)).toBe('4.4-IV2');
    expect(kafkaReleaseOf(33)).toBe('4.4');
    expect(kafkaReleaseOf(25)).toBe('4.0');
    expect(kafkaReleaseOf(40)).toBeUndefined();
    expect(readKafkaVersion({ supportedFeatures: { 'metadata.version': { min: 7, max: 33 } },
      finalizedFeatures: { 'metadata.version': { min: 33, max: 33 } }, apiMaxVersions: {} }))
      .toEqual({ release: '4.4', supported: '4.4-IV2', finalized: '4.4-IV2', unreadable: undefined });
    expect(readKafkaVersion({ supportedFeatures: {}, finalizedFeatures: {}, apiMaxVersions: {} }).unreadable).toMatch(/ZooKeeper/);
  });

  it('encodes ApiVersions v3 with its size prefix', () => {
    const req = encodeApiVersionsRequest(7, 'cid');
    expect(req.readInt32BE(0)).toBe(req.length - 4);
    expect([req.readInt16BE(4), req.readInt16BE(6), req.readInt32BE(8)]).toEqual([18, 3, 7]);
  });

  it('reads INFO server', () => {
    expect(parseRedisInfo('# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n')).toMatchObject({ redis_version: '7.0.15',
      redis_mode: 'standalone' });
  });
});

describe('doctor: tools rule', () => {
  const missingGo: ToolFinding = { tool: 'go', name: 'Go', minimum: '1.24', ms: 1 };
  const oldJava: ToolFinding = { tool: 'java', name: 'Java', minimum: '17', path: '/usr/bin/java', version: '11.0.2', ms: 1 };

  it('FAILs a missing tool the local stack needs for a server that does not answer at its address', () => {
    const c = toolCheck(missingGo, [local('schema-registry', 8081, ['go'])]);
    expect(c.status).toBe('fail');
    expect(c.hint).toMatch(/schema-registry.*stack up/);
    expect(toolCheck(oldJava, [local('kafka', 9092, ['java', 'maven'])]).status).toBe('fail');
  });

  it('only warns when no down local-stack server needs it (servers from Docker or elsewhere, or running)', () => {
    const c = toolCheck(missingGo, [local('kafka', 9092, ['java', 'maven'])]);
    expect(c.status).toBe('warn');
    expect(c.hint).toMatch(/needed only by the local stack/);
    expect(toolCheck(oldJava, []).status).toBe('warn');
    expect(toolCheck({ ...oldJava, version: '17.0.1' }, [local('kafka', 9092, ['java'])]).status).toBe('ok');
  });

  it('attributes an address to the local stack only when it is the stack\'s (loopback, same port)', () => {
    const stack = [local('redis', 6379, [])];
    expect(localServerAt(stack, 'redis', [{ host: 'localhost', port: 6379 }])?.name).toBe('redis');
    expect(localServerAt(stack, 'redis', [{ host: '127.0.0.1', port: 1 }])).toBeUndefined();
    expect(localServerAt(stack, 'redis', [{ host: 'redis.internal', port: 6379 }])).toBeUndefined();
  });
});

describe('doctor: findings', () => {
  const partition = (p: number, records: number, o: Partial<{ leader: number; replicas: number[]; isr: number[] }> = {}) =>
    ({ partition: p, leader: 1, replicas: [1], isr: [1], earliest: '0', latest: String(records), records, ...o });
  const view = (name: string, partitions: ReturnType<typeof partition>[]): TopicView =>
    ({ name, partitions, retentionMs: null, cleanupPolicy: 'delete', minInsyncReplicas: null, records: partitions.reduce((n, p) => n + p.records, 0) });

  it('checks topics against the configuration: missing, partitions, no leader', () => {
    const topics = [
      view('price-updates', [0, 1, 2, 3, 4, 5].map((p) => partition(p, 1))),
      view('price-updates.dlq', [partition(0, 2)]),
      view('market-events', [0, 1, 2].map((p) => partition(p, 0))),
      view('graph-mutations', [0, 1, 2, 3, 4, 5].map((p) => partition(p, 0, p === 3 ? { leader: -1 } : {}))),
    ];
    const checks = new Map(topicChecks(config, topics, 0).map((c) => [c.name, c]));
    expect(checks.get('price-updates')?.status).toBe('ok');
    expect(checks.get('market-events')).toMatchObject({ status: 'warn', hint: expect.stringContaining('TOPIC_PARTITIONS=3') });
    expect(checks.get('market-events.dlq')).toMatchObject({ status: 'warn', hint: expect.stringContaining('topics create') });
    expect(checks.get('graph-mutations')?.status).toBe('fail');

    const dlq = new Map(dlqChecks(config, topics, 0).map((c) => [c.name, c]));
    expect(dlq.get('price-updates.dlq')).toMatchObject({ status: 'warn', summary: 'up to 2 dead letters (offsets in the log, transaction markers included)' });
    expect(dlq.get('price-updates.dlq')?.hint).toContain('inspect tail price-updates.dlq');
    expect(dlq.get('market-events.dlq')?.status).toBe('ok');
  });

  /** A group as inspectGroups describes it: `lag` records on one partition, the oldest `lagSeconds` old (10 s by default). */
  const g = (state: string, members: number, lag: number, lagSeconds: number | null = lag ? 10 : 0) => ({
    groupId: 'x', state, members: Array.from({ length: members }, (_, i) => ({ memberId: `m${i}`, clientId: 'c', host: 'h', assignment: {} })),
    partitions: [{ topic: 'price-updates', partition: 0, committed: 0, latest: lag, lag, oldestAt: null, lagSeconds }], totalLag: lag, lagSeconds,
  });

  it('warns about a group with lag and no member; a live or caught-up group is ok', () => {
    const [postgres, redis, neo4j, enricher] = groupChecks(config, [g('Empty', 0, 5), g('Stable', 1, 5), g('Empty', 0, 0), g('PreparingRebalance', 1, 0)], 0);
    expect(postgres).toMatchObject({ status: 'warn', summary: 'x: Empty, 0 members, lag 5 (10 s behind)' });
    expect(postgres?.hint).toContain('marketstream consume postgres');
    expect(redis?.status).toBe('ok');
    expect(neo4j?.status).toBe('ok');
    expect(enricher?.status).toBe('warn');
  });

  it('warns about a group whose oldest unconsumed record is older than LAG_WARN_SECONDS, members or not', () => {
    const warnAt = testConfig({ LAG_WARN_SECONDS: '60' });
    const [behind, within, unknown] = groupChecks(warnAt, [g('Stable', 1, 5, 61), g('Stable', 1, 5, 59), g('Stable', 1, 5, null)], 0);
    expect(behind).toMatchObject({ status: 'warn', summary: 'x: Stable, 1 member, lag 5 (61 s behind)', data: { lagSeconds: 61 } });
    expect(behind?.hint).toContain('61 s old (LAG_WARN_SECONDS 60)');
    expect(within).toMatchObject({ status: 'ok', summary: 'x: Stable, 1 member, lag 5 (59 s behind)' });
    expect(unknown).toMatchObject({ status: 'ok', summary: 'x: Stable, 1 member, lag 5', data: { lagSeconds: null } });
  });

  it('shows Claude\'s model, never its key', () => {
    const key = 'sk-ant-unit-test-key';
    const c = claudeCheck(testConfig({ ANTHROPIC_API_KEY: key, ANTHROPIC_MODEL: 'claude-x' }));
    expect(c).toMatchObject({ status: 'info', summary: 'configured: model claude-x' });
    expect(JSON.stringify(c)).not.toContain(key);
    expect(claudeCheck(config).summary).toMatch(/^not configured/);
  });

  it('exits 1 on any FAIL, 0 with warnings only; renders a mark per line and the hint under it', () => {
    const check = (status: Check['status']): Check =>
      ({ id: status, section: 'servers', name: status, status, summary: `s-${status}`, hint: `h-${status}`, ms: 0 });
    expect(exitCodeOf([check('ok'), check('warn'), check('info'), check('skip')])).toBe(0);
    expect(exitCodeOf([check('ok'), check('fail')])).toBe(1);
    const text = formatReport({ version: '9.9.9', checks: [check('ok'), check('warn'), check('fail')], counts: { ok: 1, warn: 1, fail: 1, info: 0, skip: 0 },
      exitCode: 1, ms: 1200 });
    expect(text).toMatch(/^ {2}ok {4}ok {4}s-ok$/m);
    expect(text).toMatch(/^ {2}FAIL {2}fail {2}s-fail\n\s+↳ h-fail$/m);
    expect(text).not.toContain('h-ok');
    expect(text).toContain('1 ok, 1 warn, 1 FAIL in 1.2 s: exit 1');
  });
});
