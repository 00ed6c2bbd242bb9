// The local stack (PostgreSQL, Redis, Kafka, Neo4j, Schema Registry) without Docker: `stackUp` installs,
// starts and waits for each; `stackDown` stops what our pid files name; `stackStatus` probes each.
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../lib/config.ts';
import { withLockFile } from './lock.ts';
import { stackPaths, type StackPaths } from './paths.ts';
import { createLock, isRunning, readPid, removePid, stopProcess, writePid } from './proc.ts';
import { portOpen } from './probes.ts';
import { createKafkaServices, kafkaBrokerList } from './services/kafka.ts';
import { createNeo4jService } from './services/neo4j.ts';
import { createPostgresService } from './services/postgres.ts';
import { createRedisService } from './services/redis.ts';
import { createSchemaRegistryService } from './services/schema-registry.ts';
import type { ServiceContext, StackService } from './services/types.ts';
import { StackError } from '../lib/errors.ts';

export type { StackService } from './services/types.ts';

const START_ATTEMPTS = 3;

/** The last `n` lines of a log file, indented, or '' when it cannot be read. */
function logTail(file: string, n: number): string {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n);
    return lines.map((l) => `    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`).join('\n');
  } catch {
    return '';
  }
}

export interface StackOptions {
  /** STACK_DIR (absolute, or relative to the project root); defaults to the configured STACK_DIR. */
  stackDir?: string;
  /** Progress lines; silent by default. */
  log?: (message: string) => void;
  /** Kafka nodes (STACK_KAFKA_BROKERS): 1 = the service `kafka`, N = kafka-1…kafka-N; defaults to the configured value. */
  kafkaBrokers?: number;
}

export interface StackUpOptions extends StackOptions {
  /** How long each service may take to answer once started (default 180 s). */
  timeoutMs?: number;
}

export interface ServiceStatus {
  name: string;
  address: string;
  healthy: boolean;
  /** Pid from our pid file when that process runs; undefined otherwise. */
  pid: number | undefined;
  /** Healthy but not started by us. */
  external: boolean;
  logFile: string;
}

/** All five (Kafka as one service per node), in start order. */
export function createServices(paths: StackPaths, kafkaBrokers = 1): StackService[] {
  return [
    createPostgresService(paths),
    createRedisService(paths),
    ...createKafkaServices(paths, kafkaBrokers),
    createNeo4jService(paths),
    createSchemaRegistryService(paths),
  ];
}

function resolvePaths(opts: StackOptions): StackPaths {
  return stackPaths(opts.stackDir ?? loadConfig().STACK_DIR);
}

const kafkaCount = (opts: StackOptions): number => opts.kafkaBrokers ?? loadConfig().STACK_KAFKA_BROKERS;

/** Kafka services of every layout that left a pid file (`kafka`, `kafka-1`…), whatever STACK_KAFKA_BROKERS says now. */
function kafkaServicesWithPidFiles(paths: StackPaths): StackService[] {
  let files: string[] = [];
  try { files = readdirSync(paths.pids); } catch { /* no pid files yet */ }
  const nodes = files.map((f) => /^kafka-(\d+)\.pid$/.exec(f)?.[1]).filter((n): n is string => n !== undefined).map(Number);
  return [
    ...(files.includes('kafka.pid') ? createKafkaServices(paths, 1) : []),
    ...(nodes.length ? createKafkaServices(paths, Math.max(...nodes)) : []),
  ];
}

function ourPid(svc: StackService, paths: StackPaths): number | undefined {
  const pid = readPid(paths.pid(svc.name));
  return pid !== undefined && isRunning(pid, svc.processMatch) ? pid : undefined;
}

async function statusOf(svc: StackService, paths: StackPaths): Promise<ServiceStatus> {
  const healthy = await svc.isHealthy();
  const pid = ourPid(svc, paths);
  return { name: svc.name, address: svc.address, healthy, pid, external: healthy && pid === undefined, logFile: paths.log(svc.name) };
}

export async function stackStatus(opts: StackOptions = {}): Promise<ServiceStatus[]> {
  const paths = resolvePaths(opts);
  return Promise.all(createServices(paths, kafkaCount(opts)).map((svc) => statusOf(svc, paths)));
}

/**
 * Starts every service that does not already answer (one that answers is left alone, ours or not),
 * and resolves once all are healthy; rejects naming each service that failed and its log file.
 */
export async function stackUp(opts: StackUpOptions = {}): Promise<ServiceStatus[]> {
  const paths = resolvePaths(opts);
  const log = opts.log ?? (() => undefined);
  const kafkaBrokers = kafkaCount(opts);
  return withLockFile(`${paths.root}/up.lock`, () => up(paths, log, opts.timeoutMs ?? 180_000, kafkaBrokers), {
    onWait: (pid) => log(`another stack up (pid ${pid}) is running; waiting for it`),
  });
}

async function up(paths: StackPaths, log: (message: string) => void, timeoutMs: number, kafkaBrokers: number): Promise<ServiceStatus[]> {
  const services = createServices(paths, kafkaBrokers);
  // One layout of Kafka at a time: both use port 9092 (and 9093 for a controller).
  const names = new Set(services.map((s) => s.name));
  const other = kafkaServicesWithPidFiles(paths).filter((s) => !names.has(s.name) && ourPid(s, paths) !== undefined);
  if (other.length) {
    throw new StackError(`Kafka of this stack runs as ${other.map((s) => `${s.name} (pid ${ourPid(s, paths)})`).join(', ')}, ` +
      `not as the ${kafkaBrokers} broker(s) STACK_KAFKA_BROKERS asks for; stop it first with \`marketstream stack down\``);
  }
  const locks = { maven: createLock(), apt: createLock() };
  const baseCtx = { paths, log, exclusive: (what: 'maven' | 'apt', fn: () => Promise<void>) => locks[what](fn) };

  const initiallyHealthy = new Map(await Promise.all(services.map(async (s) => [s.name, await s.isHealthy()] as const)));
  // Install/build everything missing at once (Maven and apt runs are serialized by the locks).
  const ensured = new Map(services.map((s) => {
    const p = initiallyHealthy.get(s.name) ? Promise.resolve() : s.ensure({ ...baseCtx, deadline: Number.POSITIVE_INFINITY });
    p.catch(() => undefined);
    return [s.name, p] as const;
  }));

  const started = new Map<string, Promise<void>>();
  const bringUpOnce = (svc: StackService): Promise<void> => {
    let p = started.get(svc.name);
    if (!p) {
      p = bringUp(svc);
      started.set(svc.name, p);
    }
    return p;
  };

  const waitHealthy = async (svc: StackService, deadline: number, pid: number | undefined): Promise<void> => {
    while (Date.now() < deadline) {
      if (await svc.isHealthy()) return;
      if (pid !== undefined && !isRunning(pid, svc.processMatch)) {
        throw new StackError(`${svc.name} exited while starting (see ${paths.log(svc.name)})`);
      }
      await sleep(500);
    }
    throw new StackError(`${svc.name} did not answer on ${svc.address} within ${Math.round(timeoutMs / 1000)} s (see ${paths.log(svc.name)})`);
  };

  async function bringUp(svc: StackService): Promise<void> {
    if (initiallyHealthy.get(svc.name)) {
      log(`${svc.name}: already running on ${svc.address}`);
      return;
    }
    const existing = ourPid(svc, paths);
    if (existing !== undefined) {
      log(`${svc.name}: pid ${existing} is starting, waiting`);
      await waitHealthy(svc, Date.now() + timeoutMs, existing);
      return;
    }
    removePid(paths.pid(svc.name));
    if (await portOpen(svc.host, svc.port)) {
      log(`${svc.name}: ${svc.address} is taken by a process we did not start; waiting for it to answer`);
      await waitHealthy(svc, Date.now() + Math.min(timeoutMs, 30_000), undefined).catch(() => {
        throw new StackError(`${svc.name}: ${svc.address} is in use by something that does not answer as ${svc.name}; stop it or free the port`);
      });
      return;
    }
    await ensured.get(svc.name);
    for (const dep of svc.dependsOn) {
      const depSvc = services.find((s) => s.name === dep);
      if (depSvc) await bringUpOnce(depSvc).catch(() => { throw new StackError(`not started because ${dep} did not come up`); });
    }
    const deadline = Date.now() + timeoutMs;
    const ctx: ServiceContext = { ...baseCtx, deadline };
    // A server that exits while starting (a port a moment ago still in TIME_WAIT, a dependency that answered its probe
    // before it served everyone) is started again, up to START_ATTEMPTS times, each exit reported with its log's last lines.
    for (let attempt = 1; ; attempt++) {
      log(`${svc.name}: starting on ${svc.address} (log ${paths.log(svc.name)})`);
      const pid = await svc.start(ctx);
      writePid(paths.pid(svc.name), pid);
      try {
        await svc.afterStart?.(ctx);
        await waitHealthy(svc, deadline, pid);
        log(`${svc.name}: healthy (pid ${pid})`);
        return;
      } catch (err) {
        const exited = !isRunning(pid, svc.processMatch);
        const tail = logTail(paths.log(svc.name), 12);
        if (!exited || attempt >= START_ATTEMPTS || Date.now() > deadline) {
          throw new StackError(`${err instanceof Error ? err.message : String(err)}${tail ? `; its log ends:\n${tail}` : ''}`);
        }
        removePid(paths.pid(svc.name));
        log(`${svc.name}: exited while starting (attempt ${attempt} of ${START_ATTEMPTS}); its log ends:\n${tail}`);
        await sleep(2000);
      }
    }
  }

  const results = await Promise.allSettled(services.map(bringUpOnce));
  const failures = results.flatMap((r, i) => (r.status === 'rejected'
    ? [`${services[i]?.name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  if (failures.length) throw new StackError(`stack up failed:\n  ${failures.join('\n  ')}`);
  if (kafkaBrokers > 1) {
    log(`Kafka runs as ${kafkaBrokers} brokers: ${kafkaBrokerList(kafkaBrokers)}, what KAFKA_BROKERS is when unset (with STACK_KAFKA_BROKERS=${kafkaBrokers}); `
      + 'TOPIC_REPLICATION_FACTOR=3 TOPIC_MIN_INSYNC_REPLICAS=2 make topics that survive a broker');
  }
  return Promise.all(services.map((svc) => statusOf(svc, paths)));
}

/** Stops the processes named by our pid files (the registry before PostgreSQL), then removes the pid files. */
export async function stackDown(opts: StackOptions = {}): Promise<{ name: string; result: 'stopped' | 'killed' | 'not running' }[]> {
  const paths = resolvePaths(opts);
  const log = opts.log ?? (() => undefined);
  const services = createServices(paths, kafkaCount(opts));
  const kafka = [...services.filter((s) => s.name.startsWith('kafka')), ...kafkaServicesWithPidFiles(paths)];
  const byName = new Map([...services, ...kafka].map((s) => [s.name, s]));
  const out: { name: string; result: 'stopped' | 'killed' | 'not running' }[] = [];
  const stop = async (name: string): Promise<void> => {
    const svc = byName.get(name);
    if (!svc) return;
    const pidFile = paths.pid(name);
    const pid = readPid(pidFile);
    const result = pid === undefined ? 'not running' : await stopProcess(pid, svc.processMatch, svc.stopSignal, 30_000);
    removePid(pidFile);
    if (pid !== undefined) log(`${name}: ${result}${result === 'not running' ? '' : ` (pid ${pid})`}`);
    out.push({ name, result });
  };
  await Promise.all([
    (async () => { await stop('schema-registry'); await stop('postgres'); })(),
    ...[...new Set(kafka.map((s) => s.name))].map(stop),
    stop('neo4j'),
    stop('redis'),
  ]);
  // The configured services, and nodes of another Kafka layout that were running.
  const shown = [...byName.keys()].filter((name) => services.some((s) => s.name === name) || out.some((o) => o.name === name && o.result !== 'not running'));
  return shown.map((name) => out.find((o) => o.name === name) ?? { name, result: 'not running' as const });
}
