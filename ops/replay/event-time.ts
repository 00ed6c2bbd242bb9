// Replay by event time: what "event time" is for each contract (one place), which contract a topic carries, and the scan
// that finds, in each partition, the first record (lowest offset) whose event time is at or after T.
//
// Why a scan: Kafka indexes its records by Kafka timestamp only (the time the record was produced). Backfilled bars carry
// old event times under new Kafka timestamps, so the broker's offset-for-time lookup cannot find them; the records have
// to be read and decoded. Each partition is read from its start and left at its first match (early exit), so the cost is
// the records before the first match, decoded at the rate the README gives.
//
// One shortcut, from the contracts: every producer validates a record's event time against its own clock before sending
// (at most 5 min ahead for price-updates, a day for market-events and graph-mutations), and Kafka stamps the record when
// it is sent, later. So a record's event time is never more than EVENT_TIME_LEAD_MS after its Kafka timestamp, and a
// record stamped before T − EVENT_TIME_LEAD_MS cannot have an event time at or after T: the scan starts at the broker's
// offset for that time. A replay to an old date (backfilled history) still reads the partition from its start.
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { DecodeError, errorMessage, RegistryHttpError, TransientError, ValidationError } from '../../lib/errors.ts';
import { planRange, readLog, throwawayGroup, type PartitionBounds } from '../../lib/records.ts';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import type { Serde } from '../../lib/serde.ts';
import { loadSchema, parseSchema, type AvroSchemaJson } from '../../schemas/avro.ts';
import type { GraphMutation, MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { allTopics, configuredTopics, graphMutations, marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';

/** How far a record's event time may be ahead of its Kafka timestamp: the largest clock skew any producer accepts. */
export const EVENT_TIME_LEAD_MS = 24 * 3_600_000;

export interface EventTime<T> {
  /** The value's field that holds it. */
  readonly field: string;
  of(value: T): number;
}

function eventTime<T>(topic: TopicDef<T>, field: keyof T & string, of: (v: T) => number): [string, EventTime<T>] {
  return [topic.schemaFile, { field, of }];
}

/** Event time per contract (by schema file, so a renamed topic of the same contract has the same): the one definition. */
const EVENT_TIMES = new Map<string, EventTime<any>>([
  eventTime<PriceUpdate>(priceUpdates, 'eventTime', (v) => v.eventTime), // bar start (or quote time)
  eventTime<MarketEvent>(marketEvents, 'publishedAt', (v) => v.publishedAt), // when the source published it
  eventTime<GraphMutation>(graphMutations, 'mutationTime', (v) => v.mutationTime), // when the change was decided
]);

/** The event time of a topic's records, by its contract; null for a contract without one. */
export function eventTimeOf<T>(topic: TopicDef<T>): EventTime<T> | null {
  return EVENT_TIMES.get(topic.schemaFile) ?? null;
}

/**
 * The contract a topic carries: a configured topic by its name (price-updates as PRICE_UPDATES_TOPIC names it,
 * market-events, graph-mutations); any other topic (a namespaced or test copy) by the record its registry subject
 * `<topic>-value` holds (the latest version's full name, e.g. marketstream.prices.PriceUpdate).
 */
export async function contractOf(config: Config, topic: string): Promise<TopicDef<unknown>> {
  const known = configuredTopics(config).find((t) => t.name === topic);
  if (known) return known;
  const subject = `${topic}-value`;
  let latest: { schema?: unknown } | null;
  try {
    latest = await createSchemaRegistryClient(config).request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`) as { schema?: unknown } | null;
  } catch (err) {
    if (err instanceof RegistryHttpError && err.status === 404)
      throw new ValidationError(`${topic}: the registry has no subject ${subject}, so its records' event time is unknown (--event-time reads price-updates, ` +
      `market-events and graph-mutations, under any topic name)`, err);
    throw new TransientError(`schema registry unavailable while looking up ${subject}: ${errorMessage(err)}`, err);
  }
  const name = typeof latest?.schema === 'string' ? parseSchema(JSON.parse(latest.schema) as AvroSchemaJson).name : undefined;
  const base = allTopics.find((t) => loadSchema(t.schemaFile).type.name === name);
  if (!base) throw new ValidationError(`${topic}: its records are ${name ?? 'not an Avro record'}, ` +
    `which has no event time (--event-time reads price-updates, market-events and graph-mutations)`);
  return withName(base, topic);
}

export interface EventTimeScan {
  partition: number;
  /** First offset read: no record before it can have an event time at or after T (see EVENT_TIME_LEAD_MS). */
  from: string;
  /** Records read and decoded. */
  scanned: number;
  /** Offset of the first record whose event time is at or after T; null when none up to the end of the log. */
  match: string | null;
  /** That record's event time (epoch ms). */
  matchEventTime: number | null;
  /** Records whose event time was taken from their Kafka timestamp: tombstones, and bytes that do not decode. */
  byTimestamp: number;
}

export interface EventTimeScanResult {
  partitions: EventTimeScan[];
  /** Records decoded over all partitions, and how long the scan took (consumer join included). */
  records: number;
  ms: number;
}

/**
 * Per partition, the first record (lowest offset) whose event time is at or after `at`, reading from the partition's
 * start (or T − EVENT_TIME_LEAD_MS by Kafka timestamp) to that record, at most to `high` as given. A tombstone, or a
 * record that does not decode, counts by its Kafka timestamp (a later record then cannot be skipped for it). Reads with
 * lib/records' bounded reader (a throwaway group that never commits, deleted afterwards).
 */
export async function scanEventTime(kafka: Kafka, admin: Admin, o: {
  config: Config; serde: Serde; topic: TopicDef<unknown>; at: number; bounds: readonly PartitionBounds[];
}): Promise<EventTimeScanResult> {
  const started = Date.now();
  const et = eventTimeOf(o.topic);
  if (!et) throw new ValidationError(`${o.topic.name}: its contract (${o.topic.schemaFile}) has no event time`);
  const byTs = new Map((await admin.fetchTopicOffsetsByTimestamp(o.topic.name, Math.max(0, o.at - EVENT_TIME_LEAD_MS))).map((x) => [x.partition, x.offset]));
  const ranges = o.bounds.map((b) => planRange(o.topic.name, b, BigInt(byTs.get(b.partition) ?? b.high)));
  const scans = new Map<number, EventTimeScan>(ranges.map((r) => [r.partition,
    { partition: r.partition, from: r.start.toString(), scanned: 0, match: null, matchEventTime: null, byTimestamp: 0 }]));
  await readLog(kafka, {
    ranges, group: throwawayGroup(o.config.KAFKA_GROUP_PREFIX, 'replay-scan'), sessionTimeoutMs: 30_000, maxBytesPerPartition: 4 * 1024 * 1024,
    onRecord: async (m, at, ctl) => {
      const s = scans.get(at.partition)!;
      s.scanned++;
      const t = await recordTime(o.serde, o.topic, et, m, s);
      if (t < o.at) return;
      s.match = m.offset;
      s.matchEventTime = t;
      ctl.finish(at.topic, at.partition);
    },
  });
  const partitions = [...scans.values()].sort((a, b) => a.partition - b.partition);
  return { partitions, records: partitions.reduce((n, p) => n + p.scanned, 0), ms: Date.now() - started };
}

/**
 * A record's event time; its Kafka timestamp for a tombstone or bytes that do not decode (counted in `byTimestamp`).
 * Any other failure (the registry is down, say) throws: the scan cannot tell, so the replay stops (nothing was changed).
 */
async function recordTime(serde: Serde, topic: TopicDef<unknown>, et: EventTime<unknown>, m: KafkaMessage, s: EventTimeScan): Promise<number> {
  if (m.value !== null) {
    try {
      return et.of((await serde.decode(topic, m.value)).value);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
  s.byTimestamp++;
  return Number(m.timestamp);
}
