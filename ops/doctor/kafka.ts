// Kafka: do the brokers answer, which release they run (./kafka-version.ts, or the local stack's known version), the
// configured topics and their DLQs (exist, partitions and replication factor against the configuration, partitions
// without a leader or under-replicated), each sink's consumer group (state, members, total lag, lag in seconds against
// LAG_WARN_SECONDS), and how many records
// wait in each DLQ. Reuses inspect's readers (ops/inspect) on one admin client with no retries and short timeouts.
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { sinkNames, sinks } from '../../consumers/catalog.ts';
import type { Config } from '../../lib/config.ts';
import { describeError } from '../../lib/errors.ts';
import { createRecordPeek } from '../../lib/records.ts';
import { plannedTopics } from '../../topics/admin.ts';
import { inspectGroups } from '../inspect/groups.ts';
import { inspectTopics, type TopicView } from '../inspect/topics.ts';
import { fetchBrokerVersionInfo, readKafkaVersion, type KafkaVersionReading } from './kafka-version.ts';
import { serverFailure, type ServerCheckOptions, type ServerTarget } from './servers.ts';
import type { Check } from './types.ts';
import { closeQuietly, localServerAt, settle } from './util.ts';

export interface KafkaFindings { server: Check; topics: Check[]; groups: Check[]; dlq: Check[] }

function hostPort(broker: string): { host: string; port: number } {
  const i = broker.lastIndexOf(':');
  return { host: broker.slice(0, i), port: Number(broker.slice(i + 1)) };
}

export async function checkKafka(config: Config, o: ServerCheckOptions): Promise<KafkaFindings> {
  const started = Date.now();
  const where = config.KAFKA_BROKERS.join(',');
  const t: ServerTarget = {
    id: 'kafka', name: 'Kafka', variable: 'KAFKA_BROKERS', where, local: localServerAt(o.localStack, 'kafka', config.KAFKA_BROKERS.map(hostPort)),
  };
  const sasl = config.KAFKA_SASL_MECHANISM === 'none' ? undefined
    : { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD } as SASLOptions;
  const kafka = new Kafka({
    clientId: `${config.KAFKA_CLIENT_ID}-doctor`, brokers: [...config.KAFKA_BROKERS], ssl: config.KAFKA_SSL, sasl,
    connectionTimeout: Math.min(o.timeoutMs, 5000), requestTimeout: o.timeoutMs, retry: { retries: 0 }, logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  const peek = createRecordPeek(kafka);
  const skipped = (section: 'topics' | 'groups' | 'dlq', why: string): Check[] =>
    [{ id: section, section, name: section, status: 'skip', summary: `not checked: ${why}`, ms: 0 }];
  try {
    const cluster = await settle((async () => { await admin.connect(); return admin.describeCluster(); })(), o.timeoutMs);
    if (!cluster.ok) {
      const code = cluster.timedOut ? undefined : (cluster.error as { type?: unknown; name?: unknown } | null);
      const auth = code && /SASL|AUTHENTICATION/i.test(`${String(code.type ?? '')} ${String(code.name ?? '')} ${describeError(cluster.error)}`);
      const server = serverFailure(t, cluster, o.timeoutMs, Date.now() - started,
        { special: auth ? 'the brokers refused our SASL credentials: fix KAFKA_SASL_MECHANISM / KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD' : undefined });
      const why = 'Kafka does not answer';
      return { server, topics: skipped('topics', why), groups: skipped('groups', why), dlq: skipped('dlq', why) };
    }
    const { brokers, controller, clusterId } = cluster.value;
    const readings = await Promise.all(brokers.map(async (b) => {
      const clientId = `${config.KAFKA_CLIENT_ID}-doctor`;
      const r = await settle(fetchBrokerVersionInfo(b.host, b.port, { ssl: config.KAFKA_SSL, timeoutMs: o.timeoutMs, clientId }), o.timeoutMs);
      const reading: KafkaVersionReading = r.ok ? readKafkaVersion(r.value)
        : { unreadable: r.timedOut ? 'no ApiVersions answer in time' : describeError(r.error) };
      return { nodeId: b.nodeId, address: `${b.host}:${b.port}`, ...reading };
    }));
    const server = kafkaServerCheck(t, readings, { controller, clusterId, ms: Date.now() - started });

    const [topicsRead, groupsRead] = await Promise.all([
      settle(inspectTopics(admin, config), o.timeoutMs * 2),
      settle(inspectGroups(admin, config, { names: sinkNames, peek }), o.timeoutMs * 2),
    ]);
    const ms = Date.now() - started;
    const failed = (section: 'topics' | 'groups' | 'dlq', s: { timedOut: boolean; error: unknown }): Check[] => [{
      id: section, section, name: section, status: 'fail',
      summary: s.timedOut ? `could not read ${section} within ${o.timeoutMs * 2} ms` : `could not read ${section}: ${describeError(s.error)}`,
      hint: 'the brokers answer but not this request: see `marketstream inspect topics` / `inspect groups` and the broker logs', ms,
    }];
    return {
      server,
      topics: topicsRead.ok ? topicChecks(config, topicsRead.value.topics, ms) : failed('topics', topicsRead),
      dlq: topicsRead.ok ? dlqChecks(config, topicsRead.value.topics, ms) : failed('dlq', topicsRead),
      groups: groupsRead.ok ? groupChecks(config, groupsRead.value, ms) : failed('groups', groupsRead),
    };
  } finally {
    await closeQuietly(() => peek.close());
    await closeQuietly(() => admin.disconnect());
  }
}

type BrokerReading = KafkaVersionReading & { nodeId: number; address: string };

/**
 * The version line: the release read from the brokers' features (major.minor; the protocol does not carry the patch
 * release); when the configured brokers are the local stack's own process, its known version (e.g. 4.4.0) completes it.
 */
export function kafkaServerCheck(t: ServerTarget, readings: BrokerReading[], c: { controller: number | null; clusterId: string; ms: number }): Check {
  const releases = [...new Set(readings.map((r) => r.release).filter((r): r is string => Boolean(r)))];
  const finalized = [...new Set(readings.map((r) => r.finalized).filter((r): r is string => Boolean(r)))];
  const supported = [...new Set(readings.map((r) => r.supported).filter((r): r is string => Boolean(r)))];
  const local = t.local?.running ? t.local : undefined;
  const release = releases.length === 1 ? releases[0] : undefined;
  let version: string;
  let about: string;
  if (local && (!release || local.version === release || local.version.startsWith(`${release}.`))) {
    version = local.version;
    about = `${local.product} (the local stack's${release ? `; the brokers report Kafka ${release}` : ''})`;
  } else if (release) {
    version = release;
    about = `Kafka ${release} (from the brokers' metadata.version; the patch release is not readable over the protocol)`;
  } else if (releases.length > 1) {
    version = releases.join(' / ');
    about = `Kafka ${releases.join(' and ')} on different brokers`;
  } else {
    version = 'unknown';
    about = `version not readable (${readings.find((r) => r.unreadable)?.unreadable ?? 'no broker answered ApiVersions'})`;
  }
  const brokers = `${readings.length} broker${readings.length === 1 ? '' : 's'}${c.controller !== null ? ` (controller ${c.controller})` : ''}`;
  const mv = finalized.length ? `, metadata.version ${finalized.join('/')}` : '';
  const summary = `${about} at ${t.where}: ${brokers}, cluster ${c.clusterId}${mv}`;
  const data = { address: t.where, version, clusterId: c.clusterId, controller: c.controller, brokers: readings };
  if (releases.length > 1) {
    return {
      id: 'server.kafka', section: 'servers', name: 'Kafka', status: 'warn', summary, version, data, ms: c.ms,
      hint: 'the brokers run different Kafka releases: finish the rolling upgrade',
    };
  }
  if (finalized.length === 1 && supported.length === 1 && finalized[0] !== supported[0]) {
    return {
      id: 'server.kafka', section: 'servers', name: 'Kafka', status: 'warn', summary, version, data, ms: c.ms,
      hint: `the cluster runs at metadata.version ${finalized[0]} while its brokers support ${supported[0]}: ` +
        `finish the upgrade (kafka-features.sh upgrade --release-version ${release ?? '<release>'})`,
    };
  }
  return { id: 'server.kafka', section: 'servers', name: 'Kafka', status: 'ok', summary, version, data, ms: c.ms };
}

/** Each configured topic and DLQ against its planned settings. */
export function topicChecks(config: Config, topics: readonly TopicView[], ms: number): Check[] {
  const byName = new Map(topics.map((x) => [x.name, x]));
  return plannedTopics(config).map(({ name, settings }): Check => {
    const id = `topic.${name}`;
    const state = byName.get(name);
    if (!state) {
      return {
        id, section: 'topics', name, status: 'warn',
        summary: `missing (expected ${settings.partitions} partitions, replication factor ${settings.replicationFactor})`,
        hint: '`marketstream topics create` creates it (every command that needs it does too)', data: { exists: false, expected: settings }, ms,
      };
    }
    const partitions = state.partitions.length;
    const rf = partitions ? Math.min(...state.partitions.map((p) => p.replicas.length)) : 0;
    const offline = state.partitions.filter((p) => p.leader < 0).map((p) => p.partition);
    const under = state.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => p.partition);
    const records = state.partitions.reduce((n, p) => n + p.records, 0);
    const data = { exists: true, partitions, replicationFactor: rf, records, offlinePartitions: offline, underReplicatedPartitions: under, expected: settings };
    const summary = `${partitions} partition${partitions === 1 ? '' : 's'}, replication factor ${rf}, ${records} record${records === 1 ? '' : 's'}`;
    if (offline.length) {
      return {
        id, section: 'topics', name, status: 'fail', summary: `${summary}; no leader for partition ${offline.join(', ')}`,
        hint: 'a broker holding these partitions is down: bring it back (`marketstream inspect topics` shows leaders and replicas)', data, ms,
      };
    }
    const problems: string[] = [];
    const hints: string[] = [];
    if (partitions !== settings.partitions) {
      problems.push(`configured ${settings.partitions} partitions`);
      const setting = name.endsWith('.dlq') ? 'nothing (a DLQ has 1 partition)' : `TOPIC_PARTITIONS=${partitions}`;
      hints.push(`topics create leaves existing topics as they are: set ${setting} to match, or recreate the topic`);
    }
    if (rf !== settings.replicationFactor) {
      problems.push(`configured replication factor ${settings.replicationFactor}`);
      hints.push(`set TOPIC_REPLICATION_FACTOR=${rf} to match, or reassign its replicas (kafka-reassign-partitions.sh)`);
    }
    if (under.length) {
      problems.push(`under-replicated partition${under.length === 1 ? '' : 's'} ${under.join(', ')}`);
      hints.push('a replica is behind or its broker is down');
    }
    if (problems.length) {
      return { id, section: 'topics', name, status: 'warn', summary: `${summary} (${problems.join('; ')})`, hint: hints.join('; '), data, ms };
    }
    return { id, section: 'topics', name, status: 'ok', summary, data, ms };
  });
}

/**
 * Records waiting in each configured DLQ: end minus start of the log, over its partitions. Sinks write dead letters in
 * transactions (SINK_DLQ_TRANSACTIONS), whose commit markers take an offset each, so this bounds the dead letters from
 * above; `dlq stats` reads and counts them.
 */
export function dlqChecks(config: Config, topics: readonly TopicView[], ms: number): Check[] {
  const byName = new Map(topics.map((x) => [x.name, x]));
  return plannedTopics(config).filter((p) => p.name.endsWith('.dlq')).map(({ name }): Check => {
    const id = `dlq.${name}`;
    const state = byName.get(name);
    if (!state) return { id, section: 'dlq', name, status: 'ok', summary: 'does not exist yet: no dead letters', data: { exists: false, records: 0 }, ms };
    const records = state.partitions.reduce((n, p) => n + p.records, 0);
    if (records === 0) return { id, section: 'dlq', name, status: 'ok', summary: 'empty', data: { exists: true, records }, ms };
    return {
      id, section: 'dlq', name, status: 'warn', summary: `up to ${records} dead letter${records === 1 ? '' : 's'} (offsets in the log, transaction markers included)`,
      hint: `see why: \`marketstream dlq stats --topic ${name}\` and \`marketstream inspect tail ${name}\`; ` +
        `after a fix, \`marketstream dlq redrive --topic ${name}\``,
      data: { exists: true, records }, ms,
    };
  });
}

/**
 * Each sink's consumer group: a group with lag and no member is falling behind; one whose oldest unconsumed record is
 * older than LAG_WARN_SECONDS is behind by that much, members or not.
 */
export function groupChecks(config: Config, groups: Awaited<ReturnType<typeof inspectGroups>>, ms: number): Check[] {
  return sinkNames.map((sink, i): Check => {
    const g = groups[i];
    const name = sinks[sink].name;
    const id = `group.${sink}`;
    if (!g) return { id, section: 'groups', name, status: 'fail', summary: 'not described by the broker', ms };
    const members = g.members.length;
    const committed = g.partitions.some((p) => p.committed !== null);
    const data = { groupId: g.groupId, state: g.state, members, totalLag: g.totalLag, lagSeconds: g.lagSeconds, partitions: g.partitions.length, committed };
    const who = `${g.groupId}: ${g.state}, ${members} member${members === 1 ? '' : 's'}`;
    if (!members && !committed) {
      return { id, section: 'groups', name, status: 'ok', summary: `${g.groupId}: never committed (not started yet)`, data, ms };
    }
    const seconds = g.lagSeconds === null ? '' : ` (${Math.round(g.lagSeconds)} s behind)`;
    const summary = `${who}, lag ${g.totalLag}${g.totalLag > 0 ? seconds : ''}`;
    if (g.state === 'PreparingRebalance' || g.state === 'CompletingRebalance') {
      return {
        id, section: 'groups', name, status: 'warn', summary,
        hint: 'rebalancing: members are joining or leaving; check again in a moment (`marketstream inspect groups`)', data, ms,
      };
    }
    if (!members && g.totalLag > 0) {
      return {
        id, section: 'groups', name, status: 'warn', summary,
        hint: `no member consumes while ${g.totalLag} records wait: start it (\`marketstream consume ${sink}\` or \`marketstream run\`)`, data, ms,
      };
    }
    if (g.lagSeconds !== null && g.lagSeconds > config.LAG_WARN_SECONDS && g.totalLag > 0) {
      return {
        id, section: 'groups', name, status: 'warn', summary,
        hint: `its oldest unconsumed record is ${Math.round(g.lagSeconds)} s old (LAG_WARN_SECONDS ${config.LAG_WARN_SECONDS}): the store is that ` +
          `far behind; a slow store or too few members (\`marketstream consume ${sink} --instances N\`)? See \`marketstream inspect groups ${sink}\``,
        data, ms,
      };
    }
    return { id, section: 'groups', name, status: 'ok', summary, data, ms };
  });
}
