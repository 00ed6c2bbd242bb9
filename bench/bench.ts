// `npm run bench`: throughput, latency, rebuild time and memory of the sink groups on the real stack, each beside the
// baseline that bounds it, all measured in this run:
//  1. publish distinct synthetic hourly bars to fresh topics (one per size, default 200,000 and 1,000,000 records);
//  2. baselines on the largest: kafkajs consume-only and consume + Avro decode (fetches as large as the sinks'),
//     PostgreSQL plain COPY, and the idempotent COPY-staging-merge path the sink uses, straight from memory;
//  3. each sink group catches up alone, in its own processes (as `consume <group> --instances N` runs it), at 1 and at
//     2 instances, on each size: records/s from the group joined to the last batch written; peak RSS per process;
//  4. all groups together at steady publish rates (default 1,000 and 5,000 records/s): publish-to-visible latency
//     (record timestamp → written to the store) p50/p95/p99/max;
//  5. `rebuild postgres` of the largest topic in its own process: total time including rewind and clear; peak RSS.
// Prints tables and writes bench/results/<timestamp>.json and bench/results/latest.json (format: README "Benchmark").
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { sinkNames, sinks as catalog, type SinkName } from '../consumers/catalog.ts';
import { sinkTopicNames } from '../ops/groups.ts';
import { loadConfig } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import { createLogger } from '../lib/logger.ts';
import { createPublisher } from '../lib/publisher.ts';
import { createSerde } from '../lib/serde.ts';
import { createNeo4jDriver } from '../lib/stores/neo4j.ts';
import { createPgPool, migrate } from '../lib/stores/postgres.ts';
import { createRedis } from '../lib/stores/redis.ts';
import { createSyntheticSource } from '../producers/sources/synthetic.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { ensureTopics } from '../topics/admin.ts';
import { graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../topics/index.ts';
import { LARGE_FETCH, consumeRate, copyMergeRate, copyRate, coresBusy, cpuSnapshot, percentiles, until, type Rate } from './measure.ts';
import type { SinkProcessReport, SinkProcessRequest } from './sink-process.ts';

const { values: args } = parseArgs({ allowNegative: true, options: {
  records: { type: 'string', default: '200000,1000000' }, symbols: { type: 'string', default: '50' },
  'latency-rates': { type: 'string', default: '1000,5000' }, 'latency-seconds': { type: 'string', default: '20' },
  instances: { type: 'string', default: '1,2' }, sinks: { type: 'string', default: '' },
  // latency: every group in one process (as `marketstream run`), or one process per group (as `consume <group>` each)
  'latency-layout': { type: 'string', default: 'per-group' },
  rebuild: { type: 'boolean', default: true }, baselines: { type: 'boolean', default: true }, keep: { type: 'boolean', default: false },
} });
const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
const SIZES = list(args.records).map(Number).sort((a, b) => a - b);
const SYMBOLS = Number(args.symbols);
const RATES = list(args['latency-rates']).map(Number);
const LAT_SECONDS = Number(args['latency-seconds']);
const INSTANCES = list(args.instances).map(Number);
/** Not measured in this run: Kafka Connect 4.4 + Debezium's JDBC sink upserting the same rows on this machine (issue #12). */
const REFERENCE_DEBEZIUM = {
  perSecond: 18_931, measured: false,
  note: 'Kafka Connect 4.4 + Debezium JDBC sink, upserting price rows on this machine in an earlier run; not measured by this bench',
};

const run = randomBytes(3).toString('hex').toUpperCase();
const config = { ...loadConfig(), KAFKA_GROUP_PREFIX: `bench-${run}` };
const logger = createLogger({ level: 'warn', format: 'json' });
const kafka = createKafka(config, logger, 'bench');
const serde = createSerde(config);
const topicOf = (n: number) => withName(priceUpdates, `bench-prices-${run.toLowerCase()}-${n}`);
/** One topic per latency rate: a group reading from the beginning must not meet the records of another rate. */
const latencyTopicOf = (perSecond: number) => withName(priceUpdates, `bench-prices-${run.toLowerCase()}-live-${perSecond}`);
/** The sinks' other topics, empty: the benchmark's groups never read the real market-events and graph-mutations. */
const emptyEvents = withName(marketEvents, `bench-events-${run.toLowerCase()}`);
const emptyMutations = withName(graphMutations, `bench-mutations-${run.toLowerCase()}`);
const topics: TopicDef<unknown>[] = [...SIZES.map(topicOf), ...RATES.map(latencyTopicOf), emptyEvents, emptyMutations];
/** The groups that read price-updates (the enricher reads market-events). */
const priceSinks = (args.sinks ? list(args.sinks) as SinkName[] : sinkNames)
  .filter((n) => sinkTopicNames(config, n, { prices: topicOf(0) }).includes(topicOf(0).name));
const symbolsOf = (tag: string) => Array.from({ length: SYMBOLS }, (_, i) => `B${run}${tag}${String(i).padStart(2, '0')}`);
const allSymbols: string[] = [];
const pool = createPgPool(config, { max: 4 });
const say = (m: string) => process.stderr.write(`${m}\n`);
const rate = (records: number, ms: number): Rate => ({ records, seconds: ms / 1000, perSecond: Math.round(records / (ms / 1000)) });

function bars(tag: string, n: number, from = Date.UTC(2024, 0, 1)): PriceUpdate[] {
  const symbols = symbolsOf(tag);
  allSymbols.push(...symbols);
  const perSymbol = Math.ceil(n / SYMBOLS);
  return createSyntheticSource({ seed: config.SYNTHETIC_SEED, calendar: '24x7' }) // a bar every hour: perSymbol hours, perSymbol bars
    .bars(symbols, { from, to: from + perSymbol * 3_600_000, interval: '1h' }, { source: 'synthetic', ingestTime: Date.now() }).slice(0, n);
}

/** Sink processes of the benchmark (bench/sink-process.ts), one member each, started and joined before the clock runs. */
async function startSinkProcesses(names: SinkName[], topic: TopicDef<PriceUpdate>, instances: number, env: Record<string, string>, latencies: boolean) {
  const children: { child: ChildProcess; joined: Promise<void>; report: Promise<SinkProcessReport> }[] = [];
  for (let i = 0; i < instances; i++) {
    const child = fork(new URL('./sink-process.ts', import.meta.url), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: heapArgs() });
    const waitFor = <T>(type: string) => new Promise<T>((resolve, reject) => {
      const onMessage = (m: { type: string; report?: SinkProcessReport }) => { if (m.type === type) { child.off('message', onMessage); resolve(m as T); } };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`sink process exited ${code} before '${type}'`)));
    });
    const started = waitFor<void>('started');
    const joined = waitFor<void>('joined');
    const report = waitFor<{ report: SinkProcessReport }>('report').then((m) => m.report);
    joined.catch(() => {}); report.catch(() => {});
    child.send({
      names, topic: topic.name, events: emptyEvents.name, mutations: emptyMutations.name, env: { ...env, BENCH_LATENCIES: String(latencies) },
    } satisfies SinkProcessRequest);
    await started;
    children.push({ child, joined, report });
  }
  return {
    pids: children.map((c) => c.child.pid!),
    joined: Promise.all(children.map((c) => c.joined)),
    stop(): Promise<SinkProcessReport[]> {
      for (const c of children) c.child.send('stop');
      return Promise.all(children.map((c) => c.report));
    },
  };
}

/** The heap limit `marketstream consume` and `rebuild` run under (bin/marketstream.js), for the processes this bench starts. */
const heapArgs = () => (config.SINK_MAX_HEAP_MB > 0 ? [`--max-old-space-size=${config.SINK_MAX_HEAP_MB}`] : []);

interface SinkRun {
  instances: number; records: number; seconds: number; perSecond: number; batches: number; rssMb: number; ofBaseline: number;
  /** Cores busy during the catch-up (CPU seconds per second): the sink processes and each server. */
  cores: Record<string, number>;
  /** Memory peaks of the process with the highest RSS: rss, heapTotal, heapUsed, external, arrayBuffers (MB). */
  memoryMb: Record<string, number>;
}

async function resetStores(symbols: readonly string[]) {
  await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
  await pool.query('VACUUM ANALYZE price_data');
  const redis = createRedis(config);
  await redis.connect().catch(() => {});
  for (const s of symbols) await redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`);
  redis.disconnect();
  const driver = createNeo4jDriver(config);
  await driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols });
  await driver.close();
}

async function main() {
  await migrate(pool);
  await ensureTopics(kafka, config, topics);
  const publisher = createPublisher({ kafka, serde, logger });
  await publisher.connect();

  const published: { size: number; topic: TopicDef<PriceUpdate>; symbols: string[]; produce: Rate }[] = [];
  for (const size of SIZES) {
    const rows = bars(`S${SIZES.indexOf(size)}`, size);
    say(`publishing ${rows.length} records to ${topicOf(size).name} (${config.TOPIC_PARTITIONS} partitions)…`);
    const t0 = Date.now();
    for (let i = 0; i < rows.length; i += 100_000) await publisher.send(topicOf(size), rows.slice(i, i + 100_000), { source: 'bench' });
    published.push({ size, topic: topicOf(size), symbols: symbolsOf(`S${SIZES.indexOf(size)}`), produce: rate(rows.length, Date.now() - t0) });
  }
  const largest = published[published.length - 1]!;

  say('baselines: kafkajs consume-only, consume + decode, PostgreSQL COPY, COPY-staging-merge…');
  const none: Rate = { records: 0, seconds: 0, perSecond: NaN };
  const consumeOnly = args.baselines ? await consumeRate(kafka, config, largest.topic, largest.size, `bench-${run}.consume-only`) : none;
  const consumeDecode = args.baselines ? await consumeRate(kafka, config, largest.topic, largest.size, `bench-${run}.consume-decode`, serde) : none;
  const memRows = args.baselines ? bars('M', Math.min(largest.size, 1_000_000)) : [];
  const postgresCopy = args.baselines ? await copyRate(pool, memRows) : none;
  const postgresCopyMerge = args.baselines ? await copyMergeRate(pool, memRows, { batch: 20_000, concurrency: config.SINK_PARTITIONS_CONCURRENCY }) : none;
  await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbolsOf('M')]);
  memRows.length = 0;
  const baselineOf = (n: SinkName) => (n === 'postgres' ? postgresCopyMerge.perSecond : consumeDecode.perSecond);

  const sinks: Record<string, { throughput: Rate; instances: Record<string, number>; baseline: string; runs: SinkRun[] }> = {};
  for (const name of priceSinks) {
    const runs: SinkRun[] = [];
    for (const p of published) {
      for (const instances of INSTANCES) {
        await resetStores(p.symbols);
        say(`${catalog[name].name}, ${instances} instance(s), catching up on ${p.size} records…`);
        const group = `bench-${run}-${name}-${p.size}-${instances}`;
        const procs = await startSinkProcesses([name], p.topic, instances, { KAFKA_GROUP_PREFIX: group, LOG_LEVEL: 'warn' }, false);
        await procs.joined;
        const cpu0 = await cpuSnapshot({ sink: procs.pids });
        const t0 = Date.now();
        const written = async () => {
          const admin = kafka.admin();
          await admin.connect();
          try {
            const committed = (await admin.fetchOffsets({ groupId: `${group}.${catalog[name].name}`, topics: [p.topic.name] }))[0]!.partitions;
            return committed.reduce((n, c) => n + Math.max(0, Number(c.offset)), 0) >= p.size;
          } finally { await admin.disconnect(); }
        };
        await until(written, 900_000, `${catalog[name].name} to commit ${p.size} records`);
        const cores = coresBusy(cpu0, await cpuSnapshot({ sink: procs.pids }), (Date.now() - t0) / 1000);
        const reports = await procs.stop();
        const start = Math.min(...reports.map((r) => r.joinedAt[name]!));
        const end = Math.max(...reports.map((r) => r.lastWritten[name] ?? 0));
        const t = rate(p.size, end - start);
        const peak = reports.reduce((a, b) => (b.maxRssMb > a.maxRssMb ? b : a));
        runs.push({
          instances, ...t, batches: reports.reduce((n, r) => n + (r.batches[name] ?? 0), 0), rssMb: peak.maxRssMb, ofBaseline: t.perSecond / baselineOf(name),
          cores, memoryMb: peak.memoryMb,
        });
        say(`  ${t.perSecond} records/s; cores busy: ${JSON.stringify(cores)}; memory peaks MB: ${JSON.stringify(peak.memoryMb)}`);
      }
    }
    const atLargest = runs.filter((r) => r.records === largest.size);
    sinks[name] = {
      throughput: atLargest.find((r) => r.instances === 1) ?? atLargest[0]!,
      instances: Object.fromEntries(atLargest.map((r) => [String(r.instances), r.perSecond])),
      baseline: name === 'postgres' ? 'postgresCopyMerge' : 'consumeDecode',
      runs,
    };
  }

  const latency: {
    byRate: Record<string, {
      records: number; ms: Record<string, ReturnType<typeof percentiles>>; deliveryMs: Record<string, ReturnType<typeof percentiles>>;
      featuresVisibleMs: Record<string, ReturnType<typeof percentiles>>;
      cores: Record<string, number>;
    }>;
    ms: Record<string, Record<string, ReturnType<typeof percentiles>>>;
  } = { byRate: {}, ms: {} };
  // Event times from 150 days ago, an hour apart per symbol and round (producers' rules reject times ahead of the clock).
  let liveFrom = Math.floor(Date.now() / 3_600_000 - 150 * 24) * 3_600_000;
  for (const perSecond of RATES) {
    say(`latency: all groups together (${args['latency-layout']}), ${perSecond} records/s for ${LAT_SECONDS} s…`);
    const latencyTopic = latencyTopicOf(perSecond);
    const env = { KAFKA_GROUP_PREFIX: `bench-${run}-live-${perSecond}`, LOG_LEVEL: 'warn' };
    const procs = args['latency-layout'] === 'one-process'
      ? [await startSinkProcesses(priceSinks, latencyTopic, 1, env, true)]
      : await Promise.all(priceSinks.map((n) => startSinkProcesses([n], latencyTopic, 1, env, true)));
    await Promise.all(procs.map((p) => p.joined));
    const symbols = symbolsOf(`L${perSecond}`);
    allSymbols.push(...symbols);
    let sent = 0;
    const ticks = LAT_SECONDS * 50; // every 20 ms
    const perTick = Math.max(1, Math.round(perSecond / 50));
    const cpuNow = () => cpuSnapshot({ sinks: procs.flatMap((x) => x.pids), producer: [process.pid] });
    const cpu0 = await cpuNow();
    const t0 = Date.now();
    for (let tick = 0; tick < ticks; tick++) {
      const batch: PriceUpdate[] = [];
      for (let k = 0; k < perTick; k++, sent++) {
        const close = 100 + (sent % 997) / 10;
        batch.push({
          symbol: symbols[sent % symbols.length]!, interval: '1h', eventTime: liveFrom + Math.floor(sent / symbols.length) * 3_600_000,
          open: close, high: close + 1, low: close - 1, close, volume: 1000, source: 'synthetic', ingestTime: Date.now(), quality: 1,
        });
      }
      await publisher.send(latencyTopic, batch, { source: 'bench' });
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + (tick + 1) * 20 - Date.now())));
    }
    // Cores busy while publishing (CPU seconds per second): every sink process, the benchmark's producer, each server.
    const cores = coresBusy(cpu0, await cpuNow(), (Date.now() - t0) / 1000);
    say(`  cores busy: ${JSON.stringify(cores)}`);
    liveFrom += Math.ceil(sent / symbols.length + 1) * 3_600_000;
    await new Promise((r) => setTimeout(r, 3000)); // the last records land
    const reports = await Promise.all(procs.map((p) => p.stop()));
    const ms: Record<string, ReturnType<typeof percentiles>> = {};
    const deliveryMs: Record<string, ReturnType<typeof percentiles>> = {};
    const featuresVisibleMs: Record<string, ReturnType<typeof percentiles>> = {};
    for (const n of priceSinks) {
      ms[n] = percentiles(reports.flat().flatMap((r) => r.latencies[n] ?? []));
      deliveryMs[n] = percentiles(reports.flat().flatMap((r) => r.delivery[n] ?? []));
      const visible = reports.flat().flatMap((r) => r.featureLatencies[n] ?? []);
      if (visible.length) featuresVisibleMs[n] = percentiles(visible);
    }
    latency.byRate[String(perSecond)] = { records: sent, ms, deliveryMs, featuresVisibleMs, cores };
    for (const n of priceSinks) (latency.ms[n] ??= {})[String(perSecond)] = ms[n]!;
  }
  await publisher.disconnect();

  let rebuild: Record<string, unknown> | undefined;
  if (args.rebuild) {
    say(`rebuild postgres of ${largest.size} records, in its own process…`);
    rebuild = await runRebuild(largest.topic.name, largest.symbols, largest.size);
  }

  const result = {
    at: new Date().toISOString(), machine: { cpus: cpus().length, node: process.version },
    partitions: config.TOPIC_PARTITIONS, partitionsConcurrency: config.SINK_PARTITIONS_CONCURRENCY,
    fetch: {
      maxBytes: config.SINK_FETCH_MAX_BYTES, maxBytesPerPartition: config.SINK_FETCH_PARTITION_MAX_BYTES, pipeline: config.SINK_PIPELINE,
      commitIntervalMs: config.SINK_COMMIT_INTERVAL_MS, baselines: LARGE_FETCH,
    },
    records: largest.size, produce: Object.fromEntries(published.map((p) => [String(p.size), p.produce])),
    baselines: { consumeOnly, consumeDecode, postgresCopy, postgresCopyMerge },
    reference: { debeziumJdbcSink: REFERENCE_DEBEZIUM },
    sinks, latency, rebuild,
    rssMb: {
      ...Object.fromEntries(Object.entries(sinks).map(([n, s]) => [n, Math.max(...s.runs.filter((r) => r.records === largest.size).map((r) => r.rssMb))])),
      ...(rebuild ? { rebuild: rebuild.rssMb } : {}),
    },
  };
  print(result);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const body = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(new URL(`./results/${result.at.replace(/[:.]/g, '-')}.json`, import.meta.url), body);
  await writeFile(new URL('./results/latest.json', import.meta.url), body);
}

/** bench/rebuild.ts in its own process on an existing topic: its last stdout line is the JSON result with its peak RSS. */
function runRebuild(topic: string, symbols: string[], records: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      ...heapArgs(), new URL('./rebuild.ts', import.meta.url).pathname, '--topic', topic, '--symbol-list', symbols.join(','), '--records', String(records),
      '--only', 'warm',
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) { reject(new Error(`bench/rebuild.ts exited ${code}`)); return; }
      const r = JSON.parse(last) as { results: Record<string, unknown>[]; maxRssMb: number };
      resolve({ ...r.results[0], rssMb: r.maxRssMb });
    });
  });
}

type Result = {
  produce: Record<string, Rate>; baselines: Record<string, Rate>; sinks: Record<string, { runs: SinkRun[]; baseline: string }>;
  latency: {
    byRate: Record<string, {
      ms: Record<string, ReturnType<typeof percentiles>>; deliveryMs?: Record<string, ReturnType<typeof percentiles>>; cores?: Record<string, number>;
      featuresVisibleMs?: Record<string, ReturnType<typeof percentiles>>;
    }>;
  };
  rebuild?: Record<string, unknown>; rssMb: Record<string, unknown>;
};

function print(r: Result) {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const out: string[] = [
    row(['measure', 'instances', 'records', 'records/s', 'of its baseline', 'peak RSS MB']),
    row(['---', '---:', '---:', '---:', '---:', '---:']),
    ...Object.entries(r.produce).map(([n, p]) => row(['produce (idempotent, acks=all)', '', n, p.perSecond, '', ''])),
    row(['baseline: kafkajs consume-only (large fetches)', '', r.baselines.consumeOnly!.records, r.baselines.consumeOnly!.perSecond, '', '']),
    row(['baseline: consume + Avro decode', '', r.baselines.consumeDecode!.records, r.baselines.consumeDecode!.perSecond, '', '']),
    row(['baseline: PostgreSQL plain COPY (not idempotent)', '', r.baselines.postgresCopy!.records, r.baselines.postgresCopy!.perSecond, '', '']),
    row(['baseline: PostgreSQL COPY-staging-merge (idempotent)', '', r.baselines.postgresCopyMerge!.records, r.baselines.postgresCopyMerge!.perSecond, '', '']),
    row(['reference (not measured here): Debezium JDBC sink', '', '', REFERENCE_DEBEZIUM.perSecond, '', '']),
    ...Object.entries(r.sinks).flatMap(([n, s]) => s.runs.map((x) =>
      row([catalog[n as SinkName].name, x.instances, x.records, x.perSecond, `${(x.ofBaseline * 100).toFixed(0)} % of ${s.baseline}`, x.rssMb]))),
  ];
  if (r.rebuild) {
    out.push(row(['rebuild postgres (total: rewind + clear + replay)', 1, String(r.rebuild.records),
      `${r.rebuild.totalPerSecond} (${Number(r.rebuild.totalSeconds).toFixed(1)} s)`, '', String(r.rebuild.rssMb)]));
  }
  out.push('', row(['publish-to-visible latency', 'records/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'of which Kafka delivery p50 / p99 ms']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const [perSecond, l] of Object.entries(r.latency.byRate)) {
    for (const [n, p] of Object.entries(l.ms)) {
      const d = l.deliveryMs?.[n];
      out.push(row([catalog[n as SinkName].name, perSecond, p.p50, p.p95, p.p99, p.max, d ? `${d.p50} / ${d.p99}` : '']));
    }
    for (const [n, p] of Object.entries(l.featuresVisibleMs ?? {})) {
      out.push(row([`features visible in ${catalog[n as SinkName].name} (bar published → its features written)`, perSecond, p.p50, p.p95, p.p99, p.max, '']));
    }
  }
  out.push('', row(['cores busy while publishing (of 2)', 'records/s', 'total', 'sink processes', 'producer', 'kafka', 'postgres', 'redis', 'neo4j',
    'registry']),
    row(['---', ...Array<string>(9).fill('---:')]));
  for (const [perSecond, l] of Object.entries(r.latency.byRate)) {
    const c = l.cores ?? {};
    out.push(row(['all groups', perSecond, c.total ?? '', c.sinks ?? '', c.producer ?? '', c.kafka ?? '', c.postgres ?? '', c.redis ?? '',
      c.neo4j ?? '', c.registry ?? '']));
  }
  const largest = Math.max(...Object.values(r.sinks).flatMap((s) => s.runs.map((x) => x.records)));
  out.push('', row(['memory peaks of a sink process (MB)', 'instances', 'records', 'rss', 'V8 heap total', 'V8 heap used', 'external (Buffers)']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']));
  for (const [n, s] of Object.entries(r.sinks)) {
    for (const x of s.runs.filter((y) => y.records === largest && y.memoryMb)) {
      out.push(row([catalog[n as SinkName].name, x.instances, x.records, x.memoryMb.rss ?? '', x.memoryMb.heapTotal ?? '', x.memoryMb.heapUsed ?? '',
        x.memoryMb.external ?? '']));
    }
  }
  process.stdout.write(`${out.join('\n')}\n\nThroughput: each group alone catching up, in its own processes (group joined → last batch written). ` +
    'Latency: all groups running, one process each.\n');
}

async function cleanup() {
  if (args.keep) return;
  await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [allSymbols]).catch(() => {});
  await pool.query('DELETE FROM feature_bars WHERE symbol = ANY($1)', [allSymbols]).catch(() => {});
  await pool.query('DELETE FROM feature_state WHERE symbol = ANY($1)', [allSymbols]).catch(() => {});
  const redis = createRedis(config);
  await redis.connect().catch(() => {});
  for (const s of allSymbols) await redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`).catch(() => {});
  redis.disconnect();
  const driver = createNeo4jDriver(config);
  await driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols: allSymbols }).catch(() => {});
  await driver.close();
  const admin = kafka.admin();
  await admin.connect();
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`bench-${run}`));
  await admin.deleteGroups(groups).catch(() => {});
  // The price topics' features topics too (sink-process.ts names them after the price topic and the group prefix).
  const featureTopics = (await admin.listTopics()).filter((t) => topics.some((p) => t.startsWith(`${p.name}-features-`)));
  await admin.deleteTopics({ topics: [...topics.flatMap((t) => [t.name, t.dlq]), ...featureTopics] }).catch(() => {});
  await admin.disconnect();
  await pool.end();
}

try {
  await main();
} finally {
  await cleanup();
}
process.exit(0);
