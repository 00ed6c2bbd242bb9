// Apache Kafka 4.4.0 in KRaft mode, run from Maven Central jars cached per version. Every node is a combined
// broker+controller; a cluster of N nodes has an N-voter quorum. Node i (1-based) listens on portBase + 2(i-1) and its
// controller on the port after: one node is 127.0.0.1:9092 (controller :9093), three are :9092, :9094, :9096.
// `stack up` runs the nodes as services (STACK_KAFKA_BROKERS); startKafkaCluster starts a cluster on other ports under
// another data root (a test's own cluster, which it may kill brokers of without disturbing the stack's).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaNodePort, STACK_KAFKA } from '../../lib/config.ts';
import { StackError } from '../../lib/errors.ts';
import { ensureMavenLib, libDirFor } from '../java.ts';
import { cacheRoot, stackSourceDir, type StackPaths } from '../paths.ts';
import { probeKafka } from '../probes.ts';
import { isRunning, run, spawnDetached, stopProcess } from '../proc.ts';
import { endpoint, type StackService } from './types.ts';

export const KAFKA_VERSION = '4.4.0';
export const KAFKA_HOST: string = STACK_KAFKA.host;
export const KAFKA_PORT: number = STACK_KAFKA.port;
/** Heap of the single broker, and of each node of a cluster (three of them fit beside Neo4j). */
export const KAFKA_HEAP = '1g';
export const KAFKA_CLUSTER_HEAP = '512m';

/** One combined broker+controller of a cluster. */
export interface KafkaNode {
  /** 1..N */
  readonly nodeId: number;
  readonly host: string;
  /** Broker (PLAINTEXT) listener: what clients reach. */
  readonly port: number;
  readonly controllerPort: number;
  /** host:port of the broker listener. */
  readonly address: string;
}

/** The nodes of an N-node cluster: node i has its broker on portBase + 2(i-1) and its controller on the port after. */
export function kafkaNodes(count: number, portBase = KAFKA_PORT, host = KAFKA_HOST): KafkaNode[] {
  return Array.from({ length: count }, (_, i) => {
    const port = kafkaNodePort(i + 1, portBase);
    return { nodeId: i + 1, host, port, controllerPort: port + 1, address: `${host}:${port}` };
  });
}

/** The KAFKA_BROKERS value that names every broker of the stack's cluster of `count` nodes (its default, when unset). */
export function kafkaBrokerList(count: number): string {
  return kafkaNodes(count).map((n) => n.address).join(',');
}

/**
 * Replication of the internal topics (__consumer_offsets, transaction state) and the brokers' default
 * min.insync.replicas: 1 and 1 on one node, 3 and 2 from three nodes on (one broker may fail without stopping writes).
 */
export function clusterReplication(count: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.min(3, count);
  return { replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
}

/** server.properties of `node` in the cluster `nodes`; `extra` adds or overrides settings (e.g. shorter timeouts in tests). */
export function serverProperties(
  logDir: string, node: KafkaNode = kafkaNodes(1)[0]!, nodes: readonly KafkaNode[] = [node], extra: Record<string, string> = {},
): string {
  const { replicationFactor: rf, minInsyncReplicas: isr } = clusterReplication(nodes.length);
  const settings: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': String(node.nodeId),
    'controller.quorum.voters': nodes.map((n) => `${n.nodeId}@${n.host}:${n.controllerPort}`).join(','),
    listeners: `PLAINTEXT://${node.host}:${node.port},CONTROLLER://${node.host}:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${node.host}:${node.port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': logDir,
    'num.partitions': '1',
    'default.replication.factor': String(rf),
    // The default of topics created without their own setting, __consumer_offsets among them. marketstream's topics
    // always set theirs (TOPIC_MIN_INSYNC_REPLICAS).
    'min.insync.replicas': String(isr),
    'offsets.topic.replication.factor': String(rf),
    'transaction.state.log.replication.factor': String(rf),
    'transaction.state.log.min.isr': String(isr),
    'share.coordinator.state.topic.replication.factor': String(rf),
    'share.coordinator.state.topic.min.isr': String(isr),
    'group.initial.rebalance.delay.ms': '0',
    'auto.create.topics.enable': 'false',
    'delete.topic.enable': 'true',
    ...extra,
  };
  return `${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}

/** A new KRaft cluster id: a random UUID in Kafka's form (22 characters of URL-safe base64, not starting with a dash). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** The Maven pom of the broker's jars and the cached directory they are copied to. */
export function kafkaLib(): { pom: string; lib: string } {
  const pom = join(stackSourceDir, 'kafka', 'pom.xml');
  return { pom, lib: libDirFor(join(cacheRoot(), `kafka-${KAFKA_VERSION}`), pom) };
}

const log4jOption = () => `-Dlog4j2.configurationFile=${join(stackSourceDir, 'kafka', 'log4j2.xml')}`;

export interface KafkaNodeSetup {
  node: KafkaNode;
  nodes: readonly KafkaNode[];
  /** The node's directory: server.properties and data/. */
  dir: string;
  logFile: string;
  /** The cluster id every node is formatted with (asked only when this node's storage is not formatted yet). */
  clusterId: () => string;
  heap: string;
  /** Added to or overriding server.properties. */
  properties?: Record<string, string>;
}

/** The node's server.properties path: also what identifies its process (a pid only counts as the node's when its command line names it). */
export const nodePropsFile = (dir: string): string => join(dir, 'server.properties');

/** Writes the node's server.properties, formats its storage the first time, and starts it detached; returns the pid. */
export async function startKafkaNode(lib: string, s: KafkaNodeSetup): Promise<number> {
  const logDir = join(s.dir, 'data');
  const propsFile = nodePropsFile(s.dir);
  mkdirSync(logDir, { recursive: true });
  writeFileSync(propsFile, serverProperties(logDir, s.node, s.nodes, s.properties));
  const classpath = `${lib}/*`;
  if (!existsSync(join(logDir, 'meta.properties'))) {
    await run('java', [log4jOption(), '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', s.clusterId(), '-c', propsFile], { logFile: s.logFile });
  }
  return spawnDetached('java',
    [`-Xms256m`, `-Xmx${s.heap}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', log4jOption(), '-cp', classpath, 'kafka.Kafka', propsFile],
    { logFile: s.logFile, cwd: s.dir });
}

/**
 * The node answers a metadata request on its own listener. In a cluster it must also list itself among the brokers
 * (registered with the controller quorum and unfenced), so a node is healthy only once a majority of voters runs.
 */
export function probeKafkaNode(node: KafkaNode, clustered: boolean): Promise<boolean> {
  return probeKafka([node.address], clustered ? { nodeId: node.nodeId, port: node.port } : undefined);
}

/**
 * The stack's Kafka: one service `kafka` (data in STACK_DIR/kafka, as before), or `count` services kafka-1…kafka-N,
 * each with its own data dir, log and pid file. All nodes of a cluster are formatted with the cluster id kept in
 * STACK_DIR/kafka-cluster.id.
 */
export function createKafkaServices(paths: StackPaths, count = 1): StackService[] {
  const nodes = kafkaNodes(count);
  const clustered = count > 1;
  const { pom, lib } = kafkaLib();
  const clusterIdFile = join(paths.root, 'kafka-cluster.id');
  const clusterId = () => {
    if (!clustered) return newClusterId();
    mkdirSync(paths.root, { recursive: true });
    try {
      writeFileSync(clusterIdFile, `${newClusterId()}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return readFileSync(clusterIdFile, 'utf8').trim();
  };

  return nodes.map((node): StackService => {
    const name = clustered ? `kafka-${node.nodeId}` : 'kafka';
    const dir = paths.data(name);
    return {
      ...endpoint(name, node.host, node.port),
      processMatch: nodePropsFile(dir),
      stopSignal: 'SIGTERM',
      ensure: (ctx) => ensureMavenLib(pom, lib, ctx),
      async start(ctx) {
        if (!existsSync(join(dir, 'data', 'meta.properties'))) ctx.log(`formatting Kafka storage in ${join(dir, 'data')}`);
        return startKafkaNode(lib, { node, nodes, dir, logFile: paths.log(name), clusterId, heap: clustered ? KAFKA_CLUSTER_HEAP : KAFKA_HEAP });
      },
      isHealthy: () => probeKafkaNode(node, clustered),
    };
  });
}

// ── A cluster of its own (tests, fault runs) ────────────────────────────────────

export interface KafkaClusterOptions {
  /** Nodes (default 3). */
  nodes?: number;
  /** Port of node 1's broker; node i uses portBase + 2(i-1) and the port after it. */
  portBase: number;
  /** Data root: node i keeps kafka-<i>/ (server.properties, data/) and kafka-<i>.log here. */
  root: string;
  host?: string;
  heap?: string;
  /** Added to or overriding every node's server.properties. */
  properties?: Record<string, string>;
  /** How long the nodes may take to answer (default 120 s). */
  timeoutMs?: number;
  log?: (message: string) => void;
}

export interface RunningKafkaNode extends KafkaNode {
  /** The node's java process. */
  readonly pid: number;
  readonly logFile: string;
}

export interface KafkaCluster {
  readonly nodes: readonly RunningKafkaNode[];
  /** Every broker's host:port, for KAFKA_BROKERS. */
  readonly brokers: readonly string[];
  node(nodeId: number): RunningKafkaNode;
  /** Sends `signal` (default SIGKILL) to a node's process and waits until it is gone. */
  kill(nodeId: number, signal?: NodeJS.Signals): Promise<void>;
  /** Whether the node's process still runs. */
  running(nodeId: number): boolean;
  /** Stops every node still running (SIGTERM, SIGKILL after 20 s). */
  stop(): Promise<void>;
}

/** Formats and starts a cluster of N combined nodes on the given ports and data root, and waits until every node answers. */
export async function startKafkaCluster(o: KafkaClusterOptions): Promise<KafkaCluster> {
  const count = o.nodes ?? 3;
  const nodes = kafkaNodes(count, o.portBase, o.host ?? KAFKA_HOST);
  const say = o.log ?? (() => undefined);
  const { pom, lib } = kafkaLib();
  await ensureMavenLib(pom, lib, { log: say, exclusive: (_what, fn) => fn() });
  const clusterId = newClusterId();
  const running: RunningKafkaNode[] = [];
  const stop = async () => {
    await Promise.all(running.map((n) => stopProcess(n.pid, nodePropsFile(join(o.root, `kafka-${n.nodeId}`)), 'SIGTERM', 20_000)));
  };
  try {
    await Promise.all(nodes.map(async (node) => {
      const dir = join(o.root, `kafka-${node.nodeId}`);
      const logFile = join(o.root, `kafka-${node.nodeId}.log`);
      const pid = await startKafkaNode(lib, {
        node, nodes, dir, logFile, clusterId: () => clusterId, heap: o.heap ?? KAFKA_CLUSTER_HEAP, properties: o.properties,
      });
      running.push({ ...node, pid, logFile });
    }));
    running.sort((a, b) => a.nodeId - b.nodeId);
    say(`kafka cluster: ${count} node(s) started on ${nodes.map((n) => n.address).join(', ')} (pids ${running.map((n) => n.pid).join(', ')})`);
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    for (const node of running) {
      for (;;) {
        if (await probeKafkaNode(node, count > 1)) break;
        const match = nodePropsFile(join(o.root, `kafka-${node.nodeId}`));
        if (!isRunning(node.pid, match)) throw new StackError(`kafka node ${node.nodeId} exited while starting (see ${node.logFile})`);
        if (Date.now() > deadline) throw new StackError(`kafka node ${node.nodeId} did not answer on ${node.address} in time (see ${node.logFile})`);
        await sleep(300);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const byId = (nodeId: number) => {
    const n = running.find((r) => r.nodeId === nodeId);
    if (!n) throw new StackError(`no kafka node ${nodeId} in this cluster`);
    return n;
  };
  const matchOf = (nodeId: number) => nodePropsFile(join(o.root, `kafka-${nodeId}`));
  return {
    nodes: running,
    brokers: running.map((n) => n.address),
    node: byId,
    running: (nodeId) => isRunning(byId(nodeId).pid, matchOf(nodeId)),
    async kill(nodeId, signal = 'SIGKILL') {
      const n = byId(nodeId);
      if (!isRunning(n.pid, matchOf(nodeId))) return;
      process.kill(n.pid, signal);
      for (let i = 0; i < 300 && isRunning(n.pid, matchOf(nodeId)); i++) await sleep(100);
    },
    stop,
  };
}
