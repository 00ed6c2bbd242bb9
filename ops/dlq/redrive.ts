// `dlq redrive`: sends the dead letters of `<topic>.dlq` back to `<topic>` once the cause is fixed; a dead letter whose
// `original-topic` header names another topic is refused (never published anywhere). Each selected record goes back with
// its original key, value bytes and headers (the DLQ's own error headers removed), `redrive-count` one higher, its
// original Kafka timestamp, and `marketstream-version: <original partition>:<original offset>` (lib/record-headers.ts),
// so the stores order it as the original and it never passes a newer record of its key. It goes to its original
// partition while the topic still has it (else by key), through the publisher's sendRaw (the idempotent producer, acks
// from all in-sync replicas, one partition per send). A record already redriven DLQ_MAX_REDRIVES times is refused, as is
// one that can never be sent (no original topic, value dropped for size, or rejected by a producer before it was ever
// published).
//
// Progress lives in the consumer group `<KAFKA_GROUP_PREFIX>.dlq-redrive.<dlq topic>` (./state.ts): its offset moves
// (and the records left behind by filters are remembered) only after the broker acknowledged the records sent, so a
// second redrive sends nothing twice. A dry run reads the same selection with a throwaway group and commits nothing.
import type { Admin, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings, RecordHeaders } from '../../lib/record-headers.ts';
import { ValidationError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { createPublisher, recordBytes, SEND_CHUNK, SEND_CHUNK_BYTES, type Publisher, type RawRecord } from '../../lib/publisher.ts';
import { readLog, throwawayGroup, type PartitionBounds, type ReadControl, type ReadGroup } from '../../lib/records.ts';
import { createSerde } from '../../lib/serde.ts';
import { assertGroupStopped } from '../groups.ts';
import { RedriveState } from './state.ts';
import { errorClassOf } from './topics.ts';

/** An offset (every partition) or a time (Kafka record timestamp, epoch ms). Both ends are inclusive. */
export type Bound = { kind: 'offset'; offset: bigint } | { kind: 'time'; at: number };

/** `42` (an offset) or an ISO 8601 time (`2026-11-20T09:00:00Z`, `2026-11-20`). */
export function parseBound(v: string): Bound {
  const s = v.trim();
  if (/^\d+$/.test(s)) return { kind: 'offset', offset: BigInt(s) };
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) ? Date.parse(s) : Number.NaN;
  if (Number.isNaN(at)) throw new ValidationError(`${JSON.stringify(v)}: expected an offset or an ISO 8601 time (e.g. 2026-11-20T09:00:00Z)`);
  return { kind: 'time', at };
}

export function describeBound(b: Bound): string {
  return b.kind === 'offset' ? `offset ${b.offset}` : new Date(b.at).toISOString();
}

/** The redrive group of a DLQ topic. */
export function redriveGroupId(config: Config, dlqTopic: string): string {
  return `${config.KAFKA_GROUP_PREFIX}.dlq-redrive.${dlqTopic}`;
}

/** Headers describing the failure, not the record: removed before the record goes back (`redrive-count` is rewritten). */
const FAILURE_HEADERS: ReadonlySet<string> = new Set(Object.values(DlqHeaders));

export type RefuseReason =
  /** Redriven DLQ_MAX_REDRIVES times already. */
  | 'max-redrives'
  /** Its value was too large for the DLQ and was dropped (only its size and hash are kept). */
  | 'value-dropped'
  /** No `original-topic` header: nowhere to send it. */
  | 'no-original-topic'
  /** Its `original-topic` is not the topic whose DLQ it is in: a redrive sends only to `<topic>` from `<topic>.dlq`. */
  | 'other-topic'
  /** Rejected by a producer before publishing: the value is the producer's input (JSON), never a record of the topic. */
  | 'never-published'
  /** A `redrive-count` header that is not a count. */
  | 'bad-redrive-count';

export interface Selection {
  /** Only records whose `error-class` is one of these. */
  errorClasses?: readonly string[];
  /** Only records with one of these keys (UTF-8). */
  keys?: readonly string[];
  from?: Bound;
  to?: Bound;
}

export interface RedriveOptions extends Selection {
  /** The DLQ topic (`<topic>.dlq`). */
  topic: string;
  dryRun?: boolean;
  /** Stops after the records in flight (what was acknowledged stays committed). */
  signal?: AbortSignal;
}

export interface RefusedRecord {
  partition: number;
  offset: string;
  key: string | null;
  errorClass: string;
  reason: RefuseReason;
  redriveCount: string | null;
  /** Its `original-topic` header (null: none). */
  originalTopic: string | null;
}

export interface RedriveResult {
  topic: string;
  groupId: string;
  dryRun: boolean;
  maxRedrives: number;
  /** Sent back (dry run: would be). */
  sent: number;
  byOriginalTopic: Record<string, number>;
  byErrorClass: Record<string, number>;
  refused: number;
  refusedByReason: Partial<Record<RefuseReason, number>>;
  /** The first 100 refused records. */
  refusedRecords: RefusedRecord[];
  /** Sent back or refused by an earlier redrive: skipped. */
  alreadyRedriven: number;
  /** Outside --error-class/--key/--from/--to: left for a later redrive. */
  notSelected: number;
  /** Original topic → records whose original topic does not exist: left for a later redrive. */
  missingTopic: Record<string, number>;
  /** The group's position per partition (first record not handled) before and after; unchanged by a dry run. */
  positions: Array<{ partition: number; before: string; after: string; end: string }>;
  /** Why the run stopped before the end of the selection, if it did. */
  incomplete: string | null;
}

const MAX_LISTED = 100;

type Decision =
  | { send: true; topic: string; message: RawRecord; errorClass: string }
  | { send: false; reason: RefuseReason };

/** Where a DLQ's records may go back: `<topic>` of `<topic>.dlq`, and how many partitions it has (0: it does not exist). */
export interface RedriveTarget { topic: string; partitions: number }

/** What a dead letter becomes: the record to send back to `target`, or why not. */
export function redriveDecision(m: Pick<KafkaMessage, 'key' | 'value' | 'headers'>, target: RedriveTarget, maxRedrives: number): Decision {
  const h = headersToStrings(m.headers);
  const topic = h[DlqHeaders.originalTopic];
  if (!topic) return { send: false, reason: 'no-original-topic' };
  if (topic !== target.topic) return { send: false, reason: 'other-topic' };
  const partition = h[DlqHeaders.originalPartition];
  const offset = h[DlqHeaders.originalOffset];
  if (offset === undefined || partition === undefined || !/^\d+$/.test(offset) || !/^\d+$/.test(partition)) {
    return { send: false, reason: 'never-published' };
  }
  if (m.value === null && h[DlqHeaders.originalValueBytes] !== undefined) return { send: false, reason: 'value-dropped' };
  const count = h[DlqHeaders.redriveCount] ?? '0';
  if (!/^\d+$/.test(count)) return { send: false, reason: 'bad-redrive-count' };
  if (Number(count) >= maxRedrives) return { send: false, reason: 'max-redrives' };
  const headers: IHeaders = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined && !FAILURE_HEADERS.has(k)) headers[k] = v;
  headers[DlqHeaders.redriveCount] = String(Number(count) + 1);
  // A record redriven before and dead-lettered again keeps the version of the first original: that is what it restates.
  const version = /^(\d+):\d+$/.exec(h[RecordHeaders.version] ?? '') ? h[RecordHeaders.version] as string : `${partition}:${offset}`;
  headers[RecordHeaders.version] = version;
  const message: RawRecord = { key: m.key, value: m.value, headers };
  const versionPartition = Number(version.split(':')[0]);
  if (versionPartition < target.partitions) message.partition = versionPartition;
  const timestamp = Date.parse(h[DlqHeaders.originalTimestamp] ?? '');
  if (!Number.isNaN(timestamp) && timestamp >= 0) message.timestamp = String(timestamp);
  return { send: true, topic, errorClass: errorClassOf(h), message };
}

export function isSelected(s: Selection, r: { offset: bigint; timestamp: number; key: string | null; headers: Record<string, string> }): boolean {
  if (s.errorClasses?.length && !s.errorClasses.includes(errorClassOf(r.headers))) return false;
  if (s.keys?.length && (r.key === null || !s.keys.includes(r.key))) return false;
  const after = (b: Bound) => (b.kind === 'offset' ? r.offset >= b.offset : r.timestamp >= b.at);
  const before = (b: Bound) => (b.kind === 'offset' ? r.offset <= b.offset : r.timestamp <= b.at);
  return (!s.from || after(s.from)) && (!s.to || before(s.to));
}

interface Plan {
  partition: number;
  state: RedriveState;
  before: bigint;
  /** Read [start, end): end is the log end when the run began (records dead-lettered since wait for the next run). */
  start: bigint;
  end: bigint;
  /** State changed since the last commit. */
  dirty: boolean;
  /** Offsets of the records the current batch delivered, in order. */
  seen: bigint[];
}

/** Records of one DLQ partition going to one partition of the topic (undefined: by key), sent together. */
interface Chunk { partition: number | undefined; messages: RawRecord[]; offsets: bigint[]; classes: string[]; bytes: number }

/** One redrive as it runs: what it was asked, what it found, and the records read but not yet sent. */
interface Run {
  o: RedriveOptions;
  config: Config;
  log: Logger;
  dryRun: boolean;
  /** The redrive group (its progress), or a throwaway group for a dry run. */
  group: ReadGroup;
  result: RedriveResult;
  target: RedriveTarget;
  publisher: Publisher | null;
  chunk: Chunk | null;
}

const TOO_SCATTERED = 'the records handled are too scattered past the position to remember in one commit; '
  + 'run a redrive without filters to move the position on';

export async function redrive(kafka: Kafka, config: Config, logger: Logger, o: RedriveOptions): Promise<RedriveResult> {
  const topic = o.topic;
  if (!topic.endsWith('.dlq')) throw new ValidationError(`${topic} is not a dead-letter topic (<topic>.dlq)`);
  const groupId = redriveGroupId(config, topic);
  const dryRun = o.dryRun ?? false;
  const log = logger.child({ component: 'dlq-redrive', topic, group: groupId, dryRun });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (!existing.has(topic)) throw new ValidationError(`topic ${topic} not found`);
    const target = await redriveTarget(admin, topic.slice(0, -'.dlq'.length), existing);
    if (!dryRun) await assertGroupStopped(admin, groupId); // another redrive of this DLQ is running
    const { plans, bounds } = await planRedrive(admin, o, groupId, log);
    const group = dryRun ? throwawayGroup(config.KAFKA_GROUP_PREFIX, 'dlq-redrive-dry') : { own: groupId };
    const result = emptyResult(topic, groupId, dryRun, config.DLQ_MAX_REDRIVES);
    const run: Run = { o, config, log, dryRun, group, result, target, publisher: null, chunk: null };
    const work = plans.filter((p) => p.start < p.end);
    if (work.length) await readAndSend(kafka, run, work);
    return summarize(run, plans, bounds);
  } finally {
    await admin.disconnect();
  }
}

async function redriveTarget(admin: Admin, topic: string, existing: ReadonlySet<string>): Promise<RedriveTarget> {
  if (!existing.has(topic)) return { topic, partitions: 0 };
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return { topic, partitions: meta.topics[0]?.partitions.length ?? 0 };
}

function emptyResult(topic: string, groupId: string, dryRun: boolean, maxRedrives: number): RedriveResult {
  return {
    topic, groupId, dryRun, maxRedrives, sent: 0, byOriginalTopic: {}, byErrorClass: {},
    refused: 0, refusedByReason: {}, refusedRecords: [], alreadyRedriven: 0, notSelected: 0, missingTopic: {}, positions: [], incomplete: null,
  };
}

/** Per partition: where the redrive group got to (./state.ts) and what this run reads. */
async function planRedrive(admin: Admin, o: RedriveOptions, groupId: string, log: Logger): Promise<{ plans: Plan[]; bounds: PartitionBounds[] }> {
  const bounds = [...await admin.fetchTopicOffsets(o.topic)].sort((a, b) => a.partition - b.partition);
  const committed = (await admin.fetchOffsets({ groupId, topics: [o.topic] }))[0]?.partitions ?? [];
  const plans = bounds.map((b) => {
    let c = committed.find((x) => x.partition === b.partition);
    if (c && Number(c.offset) > Number(b.high)) {
      // Past the end of the log: the topic was deleted and created again. Its records are all new to this group.
      log.warn({ partition: b.partition, committed: c.offset, end: b.high },
        'redrive position is past the end of the DLQ (topic recreated?); starting from its beginning');
      c = undefined;
    }
    return planPartition(o, b, RedriveState.parse(c?.offset ?? null, c?.metadata ?? null, BigInt(b.low)));
  });
  return { plans, bounds };
}

/** From the group's position (or --from, when later) to the end of the log (or --to). */
function planPartition(s: Selection, b: PartitionBounds, state: RedriveState): Plan {
  let start = state.position;
  if (s.from?.kind === 'offset' && s.from.offset > start) start = s.from.offset;
  let end = BigInt(b.high);
  if (s.to?.kind === 'offset' && s.to.offset + 1n < end) end = s.to.offset + 1n;
  return { partition: b.partition, state, before: state.position, start, end, dirty: false, seen: [] };
}

function summarize(run: Run, plans: readonly Plan[], bounds: readonly PartitionBounds[]): RedriveResult {
  const { result, dryRun } = run;
  result.positions = plans.map((p) => ({
    partition: p.partition, before: String(p.before), after: String(dryRun ? p.before : p.state.position),
    end: String(bounds.find((b) => b.partition === p.partition)!.high),
  }));
  result.byOriginalTopic = sorted(result.byOriginalTopic);
  result.byErrorClass = sorted(result.byErrorClass);
  const { sent, refused, notSelected, missingTopic, incomplete } = result;
  run.log[dryRun ? 'debug' : 'info']({ sent, refused, notSelected, missingTopic, incomplete }, dryRun ? 'redrive dry run done' : 'redrive done');
  return result;
}

/** Reads the planned ranges (as the redrive group, or a throwaway one for a dry run) and sends back what is selected. */
async function readAndSend(kafka: Kafka, run: Run, work: readonly Plan[]): Promise<void> {
  const topic = run.o.topic;
  const plans = new Map(work.map((p) => [p.partition, p]));
  run.publisher = run.dryRun ? null : createPublisher({ kafka, serde: createSerde(run.config), logger: run.log });
  try {
    await run.publisher?.connect();
    const { ended } = await readLog(kafka, {
      ranges: work.map((p) => ({ topic, partition: p.partition, start: p.start, end: p.end })),
      group: run.group, signal: run.o.signal, sessionTimeoutMs: 30_000, maxBytesPerPartition: SEND_CHUNK_BYTES,
      onRecord: async (m, at, ctl) => {
        const p = plans.get(at.partition)!;
        p.seen.push(BigInt(m.offset));
        if (await handle(run, p, m, ctl)) return;
        await commit(run, p, ctl);
        ctl.stop();
      },
      onBatchEnd: async (at, ctl, covered) => {
        const p = plans.get(at.partition)!;
        await flush(run, p, ctl);
        if (covered && !run.dryRun) passMarkers(p, covered);
        p.seen = [];
        await commit(run, p, ctl);
      },
    });
    if (ended === 'aborted') run.result.incomplete = 'interrupted';
  } finally {
    await run.publisher?.disconnect();
  }
}

/**
 * The offsets of a wholly delivered batch that held no record (the commit markers of the transactions sinks write dead
 * letters in) count as handled, so the position reaches the log's end and no gap stays in the commit metadata.
 */
function passMarkers(p: Plan, covered: { first: bigint; last: bigint }): void {
  const from = covered.first > p.start ? covered.first : p.start;
  const to = covered.last < p.end - 1n ? covered.last : p.end - 1n;
  let next = from;
  for (const offset of [...p.seen, to + 1n]) {
    if (offset < next) continue;
    if (offset > to + 1n) break;
    if (offset > next) { p.state.addRange(next, offset - 1n); p.dirty = true; }
    next = offset + 1n;
  }
}

async function commit(run: Run, p: Plan, ctl: ReadControl): Promise<void> {
  if (run.dryRun || !p.dirty) return;
  await ctl.commit([{ topic: run.o.topic, partition: p.partition, offset: String(p.state.position), metadata: p.state.metadata() }]);
  p.dirty = false;
}

/** Sends the chunk, then (only once the broker acknowledged it) marks its records handled and commits. */
async function flush(run: Run, p: Plan, ctl: ReadControl): Promise<void> {
  const c = run.chunk;
  run.chunk = null;
  if (!c) return;
  const topic = run.target.topic;
  if (run.publisher) {
    await run.publisher.sendRaw(topic, c.messages);
    for (const off of c.offsets) p.state.add(off);
    p.dirty = true;
    await commit(run, p, ctl);
  }
  const r = run.result;
  r.sent += c.messages.length;
  r.byOriginalTopic[topic] = (r.byOriginalTopic[topic] ?? 0) + c.messages.length;
  for (const k of c.classes) r.byErrorClass[k] = (r.byErrorClass[k] ?? 0) + 1;
  run.log.debug({ to: topic, partition: c.partition, records: c.messages.length }, run.dryRun ? 'would send' : 'sent back');
}

/** Handles one record; false when the run must stop here. */
async function handle(run: Run, p: Plan, m: KafkaMessage, ctl: ReadControl): Promise<boolean> {
  const offset = BigInt(m.offset);
  if (p.state.has(offset)) { run.result.alreadyRedriven++; return true; }
  const headers = headersToStrings(m.headers);
  const key = m.key?.toString('utf8') ?? null;
  if (!isSelected(run.o, { offset, timestamp: Number(m.timestamp), key, headers })) { run.result.notSelected++; return true; }
  const d = redriveDecision(m, run.target, run.config.DLQ_MAX_REDRIVES);
  if (!d.send) {
    const redriveCount = headers[DlqHeaders.redriveCount] ?? null;
    const originalTopic = headers[DlqHeaders.originalTopic] || null;
    const errorClass = errorClassOf(headers);
    return refuse(run, p, ctl, { partition: p.partition, offset: m.offset, key, errorClass, reason: d.reason, redriveCount, originalTopic });
  }
  if (run.target.partitions === 0) { run.result.missingTopic[d.topic] = (run.result.missingTopic[d.topic] ?? 0) + 1; return true; }
  return enqueue(run, p, ctl, offset, d);
}

/** Whether the state can still remember `offset` (with the chunk in flight) in the commit metadata. */
function room(run: Run, p: Plan, offset: bigint): boolean {
  return p.state.fits([...(run.chunk?.offsets ?? []), offset]);
}

/** Sends what is in flight and ends the run: the state cannot remember more. */
async function tooScattered(run: Run, p: Plan, ctl: ReadControl): Promise<false> {
  await flush(run, p, ctl);
  run.result.incomplete = TOO_SCATTERED;
  return false;
}

async function refuse(run: Run, p: Plan, ctl: ReadControl, refused: RefusedRecord): Promise<boolean> {
  const offset = BigInt(refused.offset);
  if (!room(run, p, offset)) return tooScattered(run, p, ctl);
  const r = run.result;
  r.refused++;
  r.refusedByReason[refused.reason] = (r.refusedByReason[refused.reason] ?? 0) + 1;
  if (r.refusedRecords.length < MAX_LISTED) r.refusedRecords.push(refused);
  p.state.add(offset);
  p.dirty = true;
  return true;
}

/** Adds the record to the chunk (sending the chunk first when the record goes to another partition or does not fit). */
async function enqueue(run: Run, p: Plan, ctl: ReadControl, offset: bigint, d: Extract<Decision, { send: true }>): Promise<boolean> {
  const size = recordBytes(d.message);
  const c = run.chunk;
  if (c && (c.partition !== d.message.partition || c.messages.length >= SEND_CHUNK || c.bytes + size > SEND_CHUNK_BYTES)) await flush(run, p, ctl);
  if (!room(run, p, offset)) return tooScattered(run, p, ctl);
  const chunk = run.chunk ??= { partition: d.message.partition, messages: [], offsets: [], classes: [], bytes: 0 };
  chunk.messages.push(d.message);
  chunk.offsets.push(offset);
  chunk.classes.push(d.errorClass);
  chunk.bytes += size;
  return true;
}

function sorted(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}
