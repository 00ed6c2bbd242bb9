// Observability of a long-running command: the process's metrics, the health server (/metrics, /live, /ready,
// /health on METRICS_PORT), tracing when an OTLP endpoint is configured (lib/tracing.ts), the consumer-group monitor
// (membership, lag in records and seconds, stalls, freshness by the market calendar), periodic probes of Kafka and the
// command's stores, and adapters that count what publishers and sources do. A command starts it first, passes
// `sinkHooks` to startSinks, wraps its publisher and source, calls started() once running, and on a signal calls
// stopping() (at once /ready is 503) then close() after its own components stopped.
import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import { describeError, errorClass, errorMessage } from '../lib/errors.ts';
import { startHealthServer, type HealthReport, type HealthServer, type Readiness } from '../lib/health-server.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { processMetrics, type Metrics } from '../lib/metrics.ts';
import { createRecordPeek } from '../lib/records.ts';
import type { CircuitListener, CircuitState } from '../lib/resilience.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import { createSchemaRegistryClient } from '../lib/schema-registry-client.ts';
import { startTracing } from '../lib/tracing.ts';
import { createGroupMonitor, type GroupMonitor } from '../consumers/group-monitor.ts';
import type { RunnerHooks } from '../consumers/runner.ts';

export interface Observability {
  readonly metrics: Metrics;
  readonly port: number;
  readonly url: string;
  /** For startSinks({ hooks }): metrics, membership, lag and stall detection of the groups this process runs. */
  readonly sinkHooks: RunnerHooks;
  /** Counts records produced and dead-lettered, and failed sends; remembers the last successful send for /health. */
  instrumentPublisher(publisher: Publisher, component?: string): Publisher;
  /**
   * A circuit-breaker listener for `upstream` (gauge + /health): its state since its last change and its last failure
   * that counted against it. Starts closed, as a new breaker does.
   */
  circuit(upstream: string): CircuitListener;
  /** Another dependency for /health and /ready (pinged every LAG_REFRESH_SECONDS once started). */
  addDependency(name: string, ping: () => Promise<void>): void;
  /** A part of /health under `name`, read at each request (the price source chain's `sources`). */
  addHealthSection(name: string, report: () => unknown): void;
  /** Start-up is over (connected, groups started): /ready may turn 200. */
  started(): void;
  /** Shutdown has begun: /ready answers 503 from now on and probing stops. */
  stopping(): void;
  /** Stops probes and the monitor, closes the server. */
  close(): Promise<void>;
}

interface DependencyStatus { status: 'up' | 'down'; latencyMs: number; checkedAt: string; error?: string }

/** An upstream's breaker as /health shows it; `lastError` is described (class, code, fixed phrase), like a dependency's. */
interface CircuitStatus { state: CircuitState; since: string; lastError: { at: string; error: string } | null }

const PING_TIMEOUT_MS = 3000;

export interface ObservabilityOptions {
  config: Config;
  logger: Logger;
  command: string;
  metrics?: Metrics;
  /** The group monitor's clock (stalls, lag in seconds, freshness by the market calendar); tests pretend a Tuesday or a Saturday. */
  now?: () => number;
}

export async function startObservability(o: ObservabilityOptions): Promise<Observability> {
  const { config } = o;
  const log = o.logger.child({ component: 'observability' });
  const metrics = o.metrics ?? processMetrics();
  // Before the command's publishers and sinks exist: their first batch is traced too. Nothing is loaded when off.
  const tracing = await startTracing(config, o.command, o.logger);
  const kafka: Kafka = createKafka(config, o.logger, 'observability');
  let admin: Promise<Admin> | null = null;
  const adminClient = () => admin ??= (async () => {
    const a = kafka.admin();
    try { await a.connect(); } catch (err) { admin = null; throw err; }
    return a;
  })();
  const peek = createRecordPeek(kafka);
  const monitor: GroupMonitor = createGroupMonitor({ admin: adminClient, peek, config, logger: o.logger, metrics, ...(o.now ? { now: o.now } : {}) });
  const registry = createSchemaRegistryClient(config);
  const extraDeps = new Map<string, () => Promise<void>>();
  const sections = new Map<string, () => unknown>();
  const deps = new Map<string, DependencyStatus>();
  const circuits = new Map<string, CircuitStatus>();
  const publishers = new Map<string, { lastSendAt: number | null; records: number }>();
  const startedAt = Date.now();
  let phase: 'starting' | 'running' | 'stopping' = 'starting';

  /** Every dependency of this command: Kafka, the registry, each sink's store, extras. */
  function dependencies(): Map<string, { ping: () => Promise<void>; gatesReadiness: boolean }> {
    const all = new Map<string, { ping: () => Promise<void>; gatesReadiness: boolean }>();
    all.set('kafka', { ping: async () => { await (await adminClient()).describeCluster(); }, gatesReadiness: true });
    all.set('schema-registry', { ping: async () => { await registry.request('GET', '/config'); }, gatesReadiness: false });
    for (const s of monitor.sinks()) all.set(s.name, { ping: () => s.ping(), gatesReadiness: true });
    for (const [name, ping] of extraDeps) all.set(name, { ping, gatesReadiness: true });
    return all;
  }

  async function probe(): Promise<void> {
    await Promise.all([...dependencies()].map(async ([name, d]) => {
      const t0 = Date.now();
      try {
        await withTimeout(d.ping(), PING_TIMEOUT_MS, `no answer within ${PING_TIMEOUT_MS} ms`);
        if (deps.get(name)?.status === 'down') log.info({ dependency: name }, `${name} is reachable again`);
        deps.set(name, { status: 'up', latencyMs: Date.now() - t0, checkedAt: new Date().toISOString() });
      } catch (err) {
        const was = deps.get(name)?.status;
        // /health and /ready show a stable description (class and code), never the driver's text; the log has the detail (masked).
        deps.set(name, { status: 'down', latencyMs: Date.now() - t0, checkedAt: new Date().toISOString(), error: describeError(err) });
        if (was !== 'down') log.warn({ dependency: name, err: errorMessage(err), errClass: describeError(err) }, `${name} is not reachable`);
      }
    }));
  }

  // Lag is read from the start (a group still connecting already has lag); stores are pinged once started
  // (a sink's store client exists from then on), and nothing is touched once stopping.
  let probing: Promise<void> | null = null;
  const probeAll = () => probing ??= Promise.all([phase === 'running' ? probe() : null, monitor.refresh()]).then(() => {}).finally(() => { probing = null; });
  const timer = setInterval(() => { if (phase !== 'stopping') void probeAll(); }, config.LAG_REFRESH_SECONDS * 1000);
  timer.unref();

  function readiness(): Readiness {
    if (phase === 'starting') return { ready: false, reasons: ['starting', ...monitor.notReady()] };
    if (phase === 'stopping') return { ready: false, reasons: ['shutting down'] };
    const reasons = monitor.notReady();
    const all = dependencies();
    for (const [name, s] of deps) if (s.status === 'down' && all.get(name)?.gatesReadiness) reasons.push(`${name} unreachable: ${s.error}`);
    return { ready: reasons.length === 0, reasons };
  }

  async function health(): Promise<HealthReport> {
    // Fresh answers when they come quickly; otherwise the last known ones (the probe keeps running).
    if (phase !== 'stopping') await withTimeout(probeAll(), PING_TIMEOUT_MS + 500, 'probe is slow').catch(() => {});
    const r = readiness();
    const groups = monitor.groups();
    const writes = [...Object.values(groups).map((g) => g.lastWriteAt), ...[...publishers.values()].map((p) => iso(p.lastSendAt))]
      .filter((x): x is string => x !== null);
    // An open (or half-open) circuit means an upstream is failing and its calls are suspended: degraded, though still
    // ready (restarting the process would not bring Yahoo back).
    const allUp = [...deps.values()].every((d) => d.status === 'up') && [...circuits.values()].every((c) => c.state === 'closed');
    return {
      status: phase === 'starting' ? 'starting' : phase === 'stopping' ? 'stopping' : r.ready && allUp ? 'ok' : 'degraded',
      command: o.command,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      ready: r.ready,
      reasons: r.reasons,
      dependencies: Object.fromEntries([...dependencies().keys()].flatMap((name) => (deps.has(name) ? [[name, deps.get(name)]] : []))),
      lastSuccessfulWriteAt: writes.sort().at(-1) ?? null,
      groups,
      publishers: Object.fromEntries([...publishers].map(([k, v]) => [k, { lastSendAt: iso(v.lastSendAt), records: v.records }])),
      circuits: Object.fromEntries(circuits),
      ...Object.fromEntries([...sections].map(([name, report]) => [name, report()])),
    };
  }

  const server: HealthServer = await startHealthServer({ port: config.METRICS_PORT, host: config.METRICS_HOST, logger: o.logger, metrics, readiness, health });

  return {
    metrics,
    port: server.port,
    url: server.url,
    sinkHooks: monitor.hooks,
    instrumentPublisher(publisher, component = 'publisher') {
      const stats = { lastSendAt: null as number | null, records: 0 };
      publishers.set(component, stats);
      const failed = (err: unknown): never => { metrics.error(component, errorClass(err)); throw err; };
      return {
        ...publisher,
        async send(topic, values, meta) {
          await publisher.send(topic, values, meta).catch(failed);
          metrics.recordsProduced(topic.name, values.length);
          stats.lastSendAt = Date.now();
          stats.records += values.length;
        },
        async sendTombstone(topic, key, meta) {
          await publisher.sendTombstone(topic, key, meta).catch(failed);
          metrics.recordsProduced(topic.name, 1);
          stats.lastSendAt = Date.now();
        },
        async deadLetter(topic, records: readonly DeadLetter[]) {
          await publisher.deadLetter(topic, records).catch(failed);
          const byReason = new Map<string, number>();
          for (const r of records) byReason.set(errorClass(r.error), (byReason.get(errorClass(r.error)) ?? 0) + 1);
          for (const [reason, n] of byReason) metrics.deadLettered(topic.name, reason, n);
        },
      };
    },
    circuit(upstream) {
      const status: CircuitStatus = { state: 'closed', since: new Date().toISOString(), lastError: null };
      circuits.set(upstream, status);
      metrics.circuitState(upstream, 'closed');
      return {
        onStateChange(state) {
          status.state = state;
          status.since = new Date().toISOString();
          metrics.circuitState(upstream, state);
        },
        onFailure(err) { status.lastError = { at: new Date().toISOString(), error: describeError(err) }; },
      };
    },
    addDependency(name, ping) { extraDeps.set(name, ping); },
    addHealthSection(name, report) { sections.set(name, report); },
    started() {
      if (phase !== 'starting') return;
      phase = 'running';
      void probeAll();
      log.info({ url: server.url }, 'started: ready once every group has joined');
    },
    stopping() { phase = 'stopping'; },
    async close() {
      phase = 'stopping';
      clearInterval(timer);
      // A probe stuck on an unreachable Kafka must not hold up the shutdown.
      await withTimeout(Promise.all([probing, monitor.stop()]), PING_TIMEOUT_MS, 'probe still running').catch(() => {});
      await withTimeout(peek.close(), 1000, 'peek not closed').catch(() => {});
      const a = admin ? await withTimeout(admin, 1000, 'admin not connected').catch(() => null) : null;
      await a?.disconnect().catch(() => {});
      await server.close();
      await tracing?.shutdown(); // last: the spans of the command's final batches are sent
    },
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A dependency or probe that did not answer in time (described as "TimeoutError (ETIMEDOUT)"). */
class TimeoutError extends Error {
  override name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new TimeoutError(message)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
