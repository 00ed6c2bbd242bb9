// `node bench/rebuild.ts [--records 200000] [--symbols 50]`: time of `rebuild postgres` over the benchmark's synthetic
// data (distinct hourly bars of N symbols) on an isolated topic, scoped to the benchmark's symbols so a shared database
// keeps its other rows. Two rebuilds: "cold" (the rows are not there yet) and "warm" (200k rows deleted, then replayed,
// the usual case). Each reports records/s from the clear to caught-up, and the total including the offsets rewind.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import { createLogger } from '../lib/logger.ts';
import { createPublisher } from '../lib/publisher.ts';
import { createSerde } from '../lib/serde.ts';
import { createPgPool } from '../lib/stores/postgres.ts';
import { rebuild, type RebuildResult } from '../ops/rebuild.ts';
import { createSyntheticSource } from '../producers/sources/synthetic.ts';
import { ensureTopics } from '../topics/admin.ts';
import { marketEvents, priceUpdates, withName } from '../topics/index.ts';

const { values: args } = parseArgs({ options: {
  records: { type: 'string', default: '200000' }, symbols: { type: 'string', default: '50' },
  // npm run bench: rebuild from its topic (already published) for its symbols, once, and report this process's peak RSS
  topic: { type: 'string' }, 'symbol-list': { type: 'string' }, only: { type: 'string' },
} });
const N = Number(args.records);
const SYMBOLS = Number(args.symbols);
const run = randomBytes(3).toString('hex').toUpperCase();
const config = { ...loadConfig(), KAFKA_GROUP_PREFIX: `bench-rebuild-${run}` };
const logger = createLogger({ level: 'warn', format: 'json' });
const kafka = createKafka(config, logger, 'bench-rebuild');
const topics = { prices: withName(priceUpdates, args.topic ?? `bench-rebuild-prices-${run.toLowerCase()}`),
  events: withName(marketEvents, `bench-rebuild-events-${run.toLowerCase()}`) };
const symbols = args['symbol-list']?.split(',') ?? Array.from({ length: SYMBOLS }, (_, i) => `R${run}${String(i).padStart(3, '0')}`);
const say = (m: string) => process.stderr.write(`${m}\n`);

async function once(label: string) {
  const t0 = Date.now();
  let last = 0;
  const r: RebuildResult = await rebuild({
    config, logger, sink: 'postgres', topics, scope: { symbols }, pollMs: 250,
    onProgress: (p) => { if (p.done - last >= 50_000 || p.done === p.total) { last = p.done; say(`  ${label}: ${p.done}/${p.total} (${p.perSecond}/s)`); } },
  });
  const totalMs = Date.now() - t0;
  return { label, records: r.records, replaySeconds: r.ms / 1000, perSecond: r.perSecond, totalSeconds: totalMs / 1000,
    totalPerSecond: Math.round(r.records / (totalMs / 1000)), rows: r.counts['price_data rows'], completed: r.completed };
}

async function main() {
  await ensureTopics(kafka, config, Object.values(topics));
  if (args.topic) {
    const results = [await once(args.only ?? 'rebuild')];
    process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), records: N, results,
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
    return;
  }
  const perSymbol = Math.ceil(N / SYMBOLS);
  const from = Date.UTC(2024, 0, 1);
  const rows = createSyntheticSource({ seed: config.SYNTHETIC_SEED, calendar: '24x7' }) // a bar every hour: perSymbol hours, perSymbol bars
    .bars(symbols, { from, to: from + perSymbol * 3_600_000, interval: '1h' }, { source: 'synthetic', ingestTime: Date.now() }).slice(0, N);
  say(`publishing ${rows.length} records to ${topics.prices.name} (${config.TOPIC_PARTITIONS} partitions)…`);
  const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  await publisher.connect();
  await publisher.send(topics.prices, rows, { source: 'bench' });
  await publisher.disconnect();

  const results = [await once('cold (empty table)'), await once('warm (rows deleted, then replayed)')];
  const row = (c: (string | number)[]) => `| ${c.join(' | ')} |`;
  process.stdout.write([
    row(['rebuild postgres', 'records', 'replay s', 'records/s', 'total s (incl. rewind + clear)', 'total records/s', 'rows after']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    ...results.map((r) => row([r.label, r.records, r.replaySeconds.toFixed(1), r.perSecond, r.totalSeconds.toFixed(1), r.totalPerSecond, r.rows ?? '-'])),
  ].join('\n') + '\n');
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), records: rows.length, partitions: config.TOPIC_PARTITIONS,
    partitionsConcurrency: config.SINK_PARTITIONS_CONCURRENCY, results })}\n`);
}

async function cleanup() {
  if (args.topic) return; // the caller's topic and rows
  const pool = createPgPool(config, { max: 1 });
  await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => {});
  await pool.end();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([`${config.KAFKA_GROUP_PREFIX}.postgres-sink`]).catch(() => {});
  await admin.deleteTopics({ topics: Object.values(topics).flatMap((t) => [t.name, t.dlq]) }).catch(() => {});
  await admin.disconnect();
}

try {
  await main();
} finally {
  await cleanup();
}
process.exit(0);
