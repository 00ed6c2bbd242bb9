// `npm run bench`: throughput and latency of the sink groups on the real stack, beside the baselines needed to judge them.
//  1. publish N synthetic price updates (distinct bars) to a fresh topic;
//  2. baselines on that topic: kafkajs consume-only, consume + Avro decode; PostgreSQL COPY of the same rows;
//  3. each sink group alone catches up on the N records: sustained records/s (group joined → last batch written);
//  4. all groups together at a steady publish rate: end-to-end latency p50/p95/p99 (record timestamp → written to the store).
// Prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json. Cleans up what it created.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { sinkNames } from '../consumers/registry.ts';
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
import { ensureTopics } from '../topics/admin.ts';
import { priceUpdates, withName } from '../topics/index.ts';
import { consumeRate, copyRate, percentiles, runSinks, until, type Rate } from './measure.ts';

const { values: args } = parseArgs({ options: {
  records: { type: 'string', default: '200000' }, symbols: { type: 'string', default: '50' },
  'latency-rate': { type: 'string', default: '2000' }, 'latency-seconds': { type: 'string', default: '20' },
  keep: { type: 'boolean', default: false },
} });
const N = Number(args.records); const SYMBOLS = Number(args.symbols);
const LAT_RATE = Number(args['latency-rate']); const LAT_SECONDS = Number(args['latency-seconds']);
const DEBEZIUM_JDBC_BASELINE = 25_000; // records/s: Kafka Connect + Debezium JDBC sink upserting prices on this machine (issue #3)

const run = randomBytes(3).toString('hex').toUpperCase();
const config = { ...loadConfig(), KAFKA_GROUP_PREFIX: `bench-${run}` };
const logger = createLogger({ level: 'warn', format: 'json' });
const kafka = createKafka(config, logger, 'bench');
const serde = createSerde(config);
const topic = withName(priceUpdates, `bench-prices-${run.toLowerCase()}`);
/** The groups that read price-updates (the enricher reads market-events). */
const priceSinks = sinkNames.filter((n) => sinkTopicNames(config, n, { prices: topic }).includes(topic.name));
const symbols = Array.from({ length: SYMBOLS }, (_, i) => `B${run}${String(i).padStart(3, '0')}`);
const pool = createPgPool(config, { max: 2 });
const say = (m: string) => process.stderr.write(`${m}\n`);

async function main() {
  await migrate(pool);
  await ensureTopics(kafka, config, [topic]);
  const source = createSyntheticSource({ seed: config.SYNTHETIC_SEED });
  const from = Date.UTC(2024, 0, 1);
  const perSymbol = Math.ceil(N / SYMBOLS);
  const rows = source.bars(symbols, { from, to: from + perSymbol * 3_600_000, interval: '1h' }, { source: 'synthetic', ingestTime: Date.now() }).slice(0, N);

  say(`publishing ${rows.length} records to ${topic.name} (${config.TOPIC_PARTITIONS} partitions)…`);
  const publisher = createPublisher({ kafka, serde, logger });
  await publisher.connect();
  const t0 = Date.now();
  await publisher.send(topic, rows, { source: 'bench' });
  const produce = { records: rows.length, seconds: (Date.now() - t0) / 1000, perSecond: Math.round(rows.length / ((Date.now() - t0) / 1000)) };

  say('baselines: kafkajs consume-only, consume + decode, PostgreSQL COPY…');
  const consumeOnly = await consumeRate(kafka, config, topic, rows.length, `bench-${run}.consume-only`);
  const consumeDecode = await consumeRate(kafka, config, topic, rows.length, `bench-${run}.consume-decode`, serde);
  const copy = await copyRate(pool, rows);

  const sinks: Record<string, { throughput: Rate; batches: number; meanBatch: number }> = {};
  for (const name of priceSinks) {
    say(`${name}-sink catching up on ${rows.length} records…`);
    const r = await runSinks(config, logger, [name], topic);
    await until(() => r.written.get(name)! >= rows.length, 600_000, `${name}-sink to write ${rows.length} records`);
    await r.stop();
    const ms = r.lastWritten.get(name)! - r.joinedAt.get(name)!;
    sinks[name] = { throughput: { records: rows.length, seconds: ms / 1000, perSecond: Math.round(rows.length / (ms / 1000)) }, batches: r.batches.get(name)!, meanBatch: Math.round(rows.length / r.batches.get(name)!) };
  }

  say(`latency: all groups together, ${LAT_RATE} records/s for ${LAT_SECONDS} s…`);
  const live = await runSinks(config, logger, priceSinks, topic);
  const liveFrom = from + perSymbol * 3_600_000;
  const perTick = Math.max(1, Math.round(LAT_RATE / 10));
  let sent = 0;
  for (let tick = 0; tick < LAT_SECONDS * 10; tick++) {
    const started = Date.now();
    const hour = Math.floor(sent / SYMBOLS);
    const batch = source.bars(symbols, { from: liveFrom + hour * 3_600_000, to: liveFrom + (hour + Math.ceil(perTick / SYMBOLS) + 1) * 3_600_000, interval: '1h' }, { source: 'synthetic', ingestTime: Date.now() }).slice(0, perTick);
    await publisher.send(topic, batch, { source: 'bench' });
    sent += batch.length;
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
  }
  await until(() => priceSinks.every((n) => live.written.get(n)! >= sent), 120_000, 'the latency phase to drain');
  await live.stop();
  await publisher.disconnect();
  const latency = Object.fromEntries(priceSinks.map((n) => [n, percentiles(live.latencies.get(n)!)]));

  const result = {
    at: new Date().toISOString(), machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    records: rows.length, partitions: config.TOPIC_PARTITIONS, partitionsConcurrency: config.SINK_PARTITIONS_CONCURRENCY,
    produce, baselines: { consumeOnly, consumeDecode, postgresCopy: copy, debeziumJdbcSink: DEBEZIUM_JDBC_BASELINE },
    sinks, latency: { ratePerSecond: LAT_RATE, seconds: LAT_SECONDS, records: sent, ms: latency },
  };
  print(result);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const body = `${JSON.stringify(result, null, 2)}\n`;
  await writeFile(new URL(`./results/${result.at.replace(/[:.]/g, '-')}.json`, import.meta.url), body);
  await writeFile(new URL('./results/latest.json', import.meta.url), body);
}

function print(r: { produce: Rate; baselines: { consumeOnly: Rate; consumeDecode: Rate; postgresCopy: Rate }; sinks: Record<string, { throughput: Rate; meanBatch: number }>; latency: { ms: Record<string, ReturnType<typeof percentiles>>; ratePerSecond: number } }) {
  const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const lines = [
    row(['measure', 'records/s', 'records', 'seconds', 'mean batch', 'e2e p50 ms', 'p95 ms', 'p99 ms']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    row(['produce (idempotent, acks=all)', r.produce.perSecond, r.produce.records, r.produce.seconds.toFixed(1), '', '', '', '']),
    row(['baseline: kafkajs consume-only', r.baselines.consumeOnly.perSecond, r.baselines.consumeOnly.records, r.baselines.consumeOnly.seconds.toFixed(1), '', '', '', '']),
    row(['baseline: consume + Avro decode', r.baselines.consumeDecode.perSecond, r.baselines.consumeDecode.records, r.baselines.consumeDecode.seconds.toFixed(1), '', '', '', '']),
    row(['baseline: PostgreSQL COPY', r.baselines.postgresCopy.perSecond, r.baselines.postgresCopy.records, r.baselines.postgresCopy.seconds.toFixed(1), '', '', '', '']),
    row(['baseline: Debezium JDBC sink (reference)', DEBEZIUM_JDBC_BASELINE, '', '', '', '', '', '']),
    ...Object.entries(r.sinks).map(([n, s]) => {
      const l = r.latency.ms[n]!;
      return row([`${n}-sink`, s.throughput.perSecond, s.throughput.records, s.throughput.seconds.toFixed(1), s.meanBatch, l.p50, l.p95, l.p99]);
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n\nLatency measured with all groups running at ${r.latency.ratePerSecond} records/s; throughput with each group alone catching up.\n`);
  const pg = r.sinks.postgres?.throughput.perSecond ?? 0;
  process.stdout.write(`postgres-sink vs Debezium JDBC sink: ${(pg / DEBEZIUM_JDBC_BASELINE).toFixed(2)}× (target ≥ 1.5×)\n`);
}

async function cleanup() {
  if (args.keep) return;
  await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => {});
  const redis = createRedis(config);
  await redis.connect().catch(() => {});
  for (const s of symbols) await redis.del(`price:${s}:latest`, `price:${s}:watermark`, `bars:${s}:1h`).catch(() => {});
  redis.disconnect();
  const driver = createNeo4jDriver(config);
  await driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols }).catch(() => {});
  await driver.close();
  const admin = kafka.admin();
  await admin.connect();
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`bench-${run}`));
  await admin.deleteGroups(groups).catch(() => {});
  await admin.deleteTopics({ topics: [topic.name, topic.dlq] }).catch(() => {});
  await admin.disconnect();
  await pool.end();
}

try {
  await main();
} finally {
  await cleanup();
}
process.exit(0);
