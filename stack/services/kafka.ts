// Apache Kafka 4.4.0 in KRaft mode (one combined broker+controller) on 127.0.0.1:9092, controller on :9093,
// run from Maven Central jars cached per version; storage formatted once under STACK_DIR.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureMavenLib, libDirFor } from '../java.ts';
import { stackSourceDir, type StackPaths } from '../paths.ts';
import { probeKafka } from '../probes.ts';
import { run, spawnDetached } from '../proc.ts';
import { endpoint, type StackService } from './types.ts';

export const KAFKA_VERSION = '4.4.0';
export const KAFKA_HOST = '127.0.0.1';
export const KAFKA_PORT = 9092;
export const KAFKA_CONTROLLER_PORT = 9093;
export const KAFKA_BROKERS = [`${KAFKA_HOST}:${KAFKA_PORT}`];

export function serverProperties(logDir: string): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}`,
    `listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT},CONTROLLER://${KAFKA_HOST}:${KAFKA_CONTROLLER_PORT}`,
    `advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${KAFKA_PORT}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${logDir}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    '',
  ].join('\n');
}

export function createKafkaService(paths: StackPaths): StackService {
  const home = join(paths.cache, `kafka-${KAFKA_VERSION}`);
  const pom = join(stackSourceDir, 'kafka', 'pom.xml');
  const lib = libDirFor(home, pom);
  const dir = paths.data('kafka');
  const logDir = join(dir, 'data');
  const propsFile = join(dir, 'server.properties');
  const classpath = `${lib}/*`;

  return {
    ...endpoint('kafka', KAFKA_HOST, KAFKA_PORT),
    processMatch: propsFile,
    stopSignal: 'SIGTERM',

    ensure: (ctx) => ensureMavenLib(pom, lib, ctx),

    async start(ctx) {
      mkdirSync(logDir, { recursive: true });
      writeFileSync(propsFile, serverProperties(logDir));
      const log4j = `-Dlog4j2.configurationFile=${join(stackSourceDir, 'kafka', 'log4j2.xml')}`;
      if (!existsSync(join(logDir, 'meta.properties'))) {
        ctx.log(`formatting Kafka storage in ${logDir}`);
        const clusterId = (await run('java', [log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid'])).trim().split('\n').pop()?.trim();
        if (!clusterId) throw new Error('kafka StorageTool random-uuid printed no id');
        await run('java', [log4j, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile], { logFile: paths.log('kafka') });
      }
      return spawnDetached('java', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true', log4j, '-cp', classpath, 'kafka.Kafka', propsFile],
        { logFile: paths.log('kafka'), cwd: dir });
    },

    isHealthy: () => probeKafka(KAFKA_BROKERS),
  };
}
