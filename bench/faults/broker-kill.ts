// Fault: the broker leading most price-updates partitions is SIGKILLed while records are produced and consumed.
// On a three-broker cluster of its own (the shared stack's broker is never touched), with an isolated price topic of
// 6 partitions, replication 3 and min ISR 2; the real publisher (idempotent, acks=all) and the real postgres-sink
// (startSinks) against it; the shared Schema Registry and PostgreSQL. Afterwards: every bar exactly once in
// PostgreSQL with its values, no record twice in the log, committed offsets = end offsets, and what the producer did.
//
// Seen here: kafkajs fails the sends in flight to the dead leader ("Connection error: read ECONNRESET"), retries them
// itself, and they succeed on the new leader about 9 s later (the controller fences the dead broker after
// broker.session.timeout.ms, then moves its leaderships and shrinks the ISRs); sends to the other leaders wait as long
// (acks=all waits for the dead follower until it leaves the ISR). The publisher's own retries are not needed here.
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import type { Config } from '../../lib/config.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { groupLag } from '../../lib/lag.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { marketEvents, priceUpdates, withName } from '../../topics/index.ts';
import { startTestKafkaCluster, type TestKafkaCluster } from '../../test/helpers/kafka-cluster.ts';
import type { FaultContext, FaultResult, Scenario } from './harness.ts';
import { priceReferenceDiff, watchOffsets, type OffsetDecrease, type ReferenceDiff } from './invariants.ts';

export const BROKER_KILL_PARTITIONS = 6;
const T0 = Date.UTC(2025, 0, 6, 0, 0);
const MINUTE = 60_000;

export interface BrokerKillOptions {
  /** Distinct bars produced (default 200,000). */
  records?: number;
  /** Configuration for the Schema Registry and PostgreSQL (the shared ones); Kafka settings are replaced. Default: loadConfig(). */
  config: Config;
  /** Fraction of the records produced when the broker is killed (default 0.3). */
  killAt?: number;
  /** Bars per publisher.send (default 5,000). */
  chunk?: number;
  /** Symbols the bars spread over (default 60). */
  symbols?: number;
  /** Log level of the pipeline's own logs, printed to stderr (default: warn lines are counted, nothing printed). */
  printLevel?: string;
  pool?: Pool;
  say?: (message: string) => void;
}

/** What a producer did while the broker was killed. */
export interface ProducerReport {
  /** publisher.send calls that threw (each was sent again); 0 when the publisher's own retries sufficed. */
  sendFailures: number;
  /** Errors the sends threw, if any. */
  failureMessages: string[];
  /** Sends of one partition's batch the publisher sent again after kafkajs gave up on them. */
  publisherRetries: number;
  /** The first few reasons of those. */
  publisherRetryMessages: string[];
  /** kafkajs producer errors logged while it retried internally (connection lost, leader moved, not enough replicas…). */
  kafkajsRetries: number;
  /** The first few of those messages, for the report. */
  kafkajsMessages: string[];
  /** Longest time one publisher.send took (ms): the stall the leader election cost. */
  longestSendMs: number;
}

export interface BrokerKillResult {
  records: number;
  /** Records in the topic's log (sum of end offsets): more than `records` would be a duplicate. */
  logRecords: number;
  rows: number;
  lost: number;
  /** Log records beyond the bars sent (the producer wrote a record twice). */
  doubled: number;
  /** Rows whose close or volume differ from the bar sent. */
  wrongValues: number;
  /** sha256 over the sorted (symbol, ts, close, volume) rows, and the same over the bars sent. */
  checksum: { rows: string; expected: string };
  /** Every partition's committed offset equals its end offset. */
  committedAtEnd: boolean;
  /** Decreases of the group's committed offsets seen from the sink's start to the recovery. */
  offsetDecreases: OffsetDecrease[];
  /** price_data against the newest-wins state of the topic's log (./invariants.ts). */
  reference: ReferenceDiff;
  killedNode: number;
  /** Partitions the killed node led at the kill (of BROKER_KILL_PARTITIONS). */
  killedLeaderOf: number[];
  /** Leaders after the kill, per partition. */
  leadersAfter: Record<number, number>;
  producer: ProducerReport;
  /** Consumer restarts (kafkajs crash and restart) and group joins of the sink. */
  consumerRestarts: number;
  groupJoins: number;
  /** From the kill until every bar was in PostgreSQL and the lag was 0. */
  recoverSeconds: number | null;
  seconds: number;
}

/** A logger that counts the lines we look for and prints those at or above `printLevel` to stderr. */
function countingLogger(name: string, printLevel?: string) {
  const counts = { kafkajsProducer: 0, kafkajsMessages: [] as string[], publisherRetries: 0, publisherMessages: [] as string[], consumerRestarts: 0 };
  const levels: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
  const printFrom = printLevel ? levels[printLevel] ?? 40 : Number.POSITIVE_INFINITY;
  let buffered = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        let e: { level?: number; msg?: string; kafkajs?: string; component?: string };
        try { e = JSON.parse(line); } catch { continue; }
        const msg = e.msg ?? '';
        if (e.kafkajs === 'Producer' && (e.level ?? 0) >= 40) {
          counts.kafkajsProducer++;
          if (counts.kafkajsMessages.length < 8 && !counts.kafkajsMessages.includes(msg)) counts.kafkajsMessages.push(msg);
        }
        if (e.component === 'publisher' && msg.startsWith('send failed')) {
          counts.publisherRetries++;
          const why = String((e as { err?: unknown }).err ?? '');
          if (counts.publisherMessages.length < 5 && !counts.publisherMessages.includes(why)) counts.publisherMessages.push(why);
        }
        if (e.kafkajs === 'Consumer' && msg.startsWith('Restarting the consumer')) counts.consumerRestarts++;
        if ((e.level ?? 0) >= printFrom) process.stderr.write(`${line}\n`);
      }
      done();
    },
  });
  const logger = createLogger({ level: 'info', format: 'json', name, destination });
  return { logger, counts };
}

/** The leader of each partition of `topic` (kafkajs metadata, refreshed). */
async function leaders(cluster: TestKafkaCluster, config: Config, logger: Logger, topic: string): Promise<Record<number, number>> {
  const admin = createKafka(config, logger, 'broker-kill-admin').admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return Object.fromEntries((meta.topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]));
  } finally {
    await admin.disconnect();
  }
}

/** Runs the fault once and returns its figures; the caller asserts (test) or tabulates them (npm run faults). */
export async function runBrokerKill(o: BrokerKillOptions): Promise<BrokerKillResult> {
  const started = Date.now();
  const records = o.records ?? 200_000;
  const say = o.say ?? (() => undefined);
  const id = randomBytes(4).toString('hex');
  const symbolCount = o.symbols ?? 60;
  const symbols = Array.from({ length: symbolCount }, (_, k) => `BK${id.slice(0, 5).toUpperCase()}${String(k).padStart(2, '0')}`);
  // Bar i of symbol k; `records` of them in all, in (i, k) order, so every chunk touches every symbol.
  const bar = (k: number, i: number): PriceUpdate => {
    const close = 50 + ((k * 7919 + i * 31) % 10_000) / 100;
    return {
      symbol: symbols[k]!, interval: '1m', eventTime: T0 + i * MINUTE, open: close, high: close + 1, low: close - 1, close, volume: 1000 + i * (k + 1),
      source: 'synthetic', ingestTime: T0 + i * MINUTE + 500, quality: 1,
    };
  };
  const nth = (n: number) => bar(n % symbolCount, Math.floor(n / symbolCount));

  const { logger, counts } = countingLogger('broker-kill-sink', o.printLevel);
  const cluster = await startTestKafkaCluster({ log: say });
  const ownPool = !o.pool;
  const pool = o.pool ?? createPgPool(o.config, { max: 2 });
  let sinks: RunningSinks | undefined;
  const publishers: Publisher[] = [];
  try {
    const config: Config = {
      ...o.config,
      KAFKA_BROKERS: [...cluster.brokers],
      KAFKA_GROUP_PREFIX: `broker-kill-${id}`,
      TOPIC_PARTITIONS: BROKER_KILL_PARTITIONS,
      TOPIC_REPLICATION_FACTOR: 3,
      TOPIC_MIN_INSYNC_REPLICAS: 2,
    };
    const prices = withName(priceUpdates, `broker-kill-prices-${id}`);
    const events = withName(marketEvents, `broker-kill-events-${id}`);
    const groupId = groupIdOf(config, 'postgres');
    await migrate(pool);
    let groupJoins = 0;
    const kafka = createKafka(config, logger, 'broker-kill-admin');
    const watch = watchOffsets(kafka, [groupId]);
    sinks = await startSinks({ config, logger, names: ['postgres'], topics: { prices, events }, hooks: { onGroupJoin: () => { groupJoins++; } } });
    const produced = countingLogger('broker-kill-producer', o.printLevel);
    const publisher = createPublisher({
      kafka: createKafka(config, produced.logger, 'broker-kill-producer'), serde: createSerde(config), logger: produced.logger,
    });
    publishers.push(publisher);
    await publisher.connect();
    const producer: ProducerReport = {
      sendFailures: 0, failureMessages: [], publisherRetries: 0, publisherRetryMessages: [], kafkajsRetries: 0, kafkajsMessages: [], longestSendMs: 0,
    };
    say(`cluster ${cluster.brokers.join(',')}; topic ${prices.name} (${BROKER_KILL_PARTITIONS} partitions, RF 3, min ISR 2); producing ${records} bars`);

    const chunk = o.chunk ?? 5000;
    const killAt = Math.floor(records * (o.killAt ?? 0.3));
    let killed: Promise<{ nodeId: number; ledBefore: number[]; at: number }> | undefined;
    for (let from = 0; from < records; from += chunk) {
      if (!killed && from >= killAt) {
        // Mid-stream: the kill lands while the next sends are in flight.
        killed = (async () => {
          const before = await leaders(cluster, config, logger, prices.name);
          const led = new Map<number, number[]>();
          for (const [p, leader] of Object.entries(before)) led.set(leader, [...(led.get(leader) ?? []), Number(p)]);
          const [nodeId, ledBefore] = [...led.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0]!;
          await cluster.kill(nodeId, 'SIGKILL');
          say(`SIGKILLed broker ${nodeId} (pid ${cluster.node(nodeId).pid}), leader of partitions ${ledBefore.join(',')}, after ${from} bars`);
          return { nodeId, ledBefore, at: Date.now() };
        })();
      }
      const values = Array.from({ length: Math.min(chunk, records - from) }, (_, j) => nth(from + j));
      const t = Date.now();
      for (;;) {
        try {
          await publisher.send(prices, values, { source: 'broker-kill' });
          break;
        } catch (err) {
          // A caller's retry of the same values: counted, so the report says whether the publisher needed one.
          producer.sendFailures++;
          producer.failureMessages.push(errorMessage(err));
          say(`send of bars ${from}..${from + values.length} failed: ${errorMessage(err)}; sending again`);
          if (producer.sendFailures > 20) throw err;
        }
      }
      producer.longestSendMs = Math.max(producer.longestSendMs, Date.now() - t);
    }
    const kill = await killed!;
    say(`produced ${records} bars in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for PostgreSQL`);

    // Every bar in PostgreSQL and the group's lag 0.
    let recoverSeconds: number | null = null;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      const rows = Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0].count);
      if (rows >= records) {
        const lag = await groupLag(kafka, groupId, [prices.name]).catch(() => null);
        if (lag && lag.every((p) => p.lag === 0)) { recoverSeconds = (Date.now() - kill.at) / 1000; break; }
      }
      await sleep(500);
    }

    const offsetDecreases = await watch.stop();
    const reference = await priceReferenceDiff(kafka, config, pool, prices, symbols);
    const lag = await groupLag(kafka, groupId, [prices.name]);
    const logRecords = lag.reduce((n, p) => n + p.latest, 0);
    const { rows } = await pool.query<{ symbol: string; t: string; close: number; volume: number }>(
      'SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS t, close, volume FROM price_data WHERE symbol = ANY($1) AND interval = $2', [symbols, '1m']);
    const expected = new Map<string, PriceUpdate>();
    for (let n = 0; n < records; n++) { const b = nth(n); expected.set(`${b.symbol}|${b.eventTime}`, b); }
    let wrongValues = 0;
    let found = 0;
    for (const r of rows) {
      const b = expected.get(`${r.symbol}|${r.t}`);
      if (!b) { wrongValues++; continue; }
      found++;
      if (Number(r.close) !== b.close || Number(r.volume) !== b.volume) wrongValues++;
    }
    const digest = (xs: string[]) => createHash('sha256').update(xs.sort().join('\n')).digest('hex');
    const leadersAfter = await leaders(cluster, config, logger, prices.name);
    Object.assign(producer, {
      publisherRetries: produced.counts.publisherRetries, publisherRetryMessages: produced.counts.publisherMessages,
      kafkajsRetries: produced.counts.kafkajsProducer, kafkajsMessages: produced.counts.kafkajsMessages,
    });
    return {
      records,
      logRecords,
      rows: rows.length,
      lost: records - found,
      doubled: Math.max(0, logRecords - records),
      wrongValues,
      checksum: {
        rows: digest(rows.map((r) => `${r.symbol}|${r.t}|${Number(r.close)}|${Number(r.volume)}`)),
        expected: digest([...expected.values()].map((b) => `${b.symbol}|${b.eventTime}|${b.close}|${b.volume}`)),
      },
      committedAtEnd: lag.every((p) => p.committed === p.latest),
      offsetDecreases,
      reference,
      killedNode: kill.nodeId,
      killedLeaderOf: kill.ledBefore,
      leadersAfter,
      producer,
      consumerRestarts: counts.consumerRestarts,
      groupJoins,
      recoverSeconds,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await sinks?.stop().catch((err: unknown) => say(`stopping the sink: ${errorMessage(err)}`));
    await Promise.all(publishers.map((p) => p.disconnect().catch(() => undefined)));
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => undefined);
    if (ownPool) await pool.end();
    await cluster.close();
  }
}

/** The row of the fault table (`npm run faults`): 200,000 records unless the runner asks for another number. */
export const brokerKilled: Scenario = {
  name: 'broker leading most price partitions SIGKILLed (3 brokers, RF 3, min ISR 2)',
  async run(ctx: FaultContext): Promise<FaultResult> {
    const r = await runBrokerKill({ records: ctx.records, config: ctx.config, pool: ctx.pool, say: ctx.say });
    const p = r.producer;
    const producer = `producer: ${p.sendFailures} failed send(s), ${p.publisherRetries} publisher retries, ${p.kafkajsRetries} kafkajs retries, `
      + `longest send ${(p.longestSendMs / 1000).toFixed(1)} s`;
    return {
      fault: this.name, records: r.records, lost: r.lost, doubled: r.doubled, inDlq: 0,
      rebalances: Math.max(0, r.groupJoins - 1), recoverSeconds: r.recoverSeconds,
      offsetDecreases: r.offsetDecreases.length, differences: r.reference.differences,
      notes: `broker ${r.killedNode} led partitions ${r.killedLeaderOf.join(',')}; ${producer}; `
        + `values ${r.wrongValues ? `${r.wrongValues} wrong` : 'all right'}; `
        + `committed = end: ${r.committedAtEnd}; consumer restarts ${r.consumerRestarts}`,
    };
  },
};
