// `dlq redrive`: sends dead letters back to the topic they came from once the cause is fixed. Each selected record goes
// back with its original key, value bytes and headers (the DLQ's own error headers removed) and `redrive-count` one
// higher, through the idempotent producer (acks from all in-sync replicas), keyed as before so it lands in the same
// partition. A record already redriven DLQ_MAX_REDRIVES times is refused, as is one that can never be sent (no
// original topic, value dropped for size, or rejected by a producer before it was ever published).
//
// Progress lives in the consumer group `<KAFKA_GROUP_PREFIX>.dlq-redrive.<dlq topic>` (./state.ts): its offset moves
// (and the records left behind by filters are remembered) only after the broker acknowledged the records sent, so a
// second redrive sends nothing twice. A dry run reads the same selection with a throwaway group and commits nothing.
import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka, KafkaMessage, Message } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders, headersToStrings } from '../../lib/dlq.ts';
import { GroupActiveError, ValidationError } from '../../lib/errors.ts';
import { createIdempotentProducer } from '../../lib/kafka.ts';
import type { Logger } from '../../lib/logger.ts';
import { recordBytes, SEND_CHUNK, SEND_CHUNK_BYTES } from '../../lib/publisher.ts';
import { assertGroupStopped, groupState } from '../groups.ts';
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

export interface RefusedRecord { partition: number; offset: string; key: string | null; errorClass: string; reason: RefuseReason; redriveCount: string | null }

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
  | { send: true; topic: string; message: Message; errorClass: string }
  | { send: false; reason: RefuseReason };

/** What a dead letter becomes: the record to send back, or why not. */
export function redriveDecision(m: Pick<KafkaMessage, 'key' | 'value' | 'headers'>, maxRedrives: number): Decision {
  const h = headersToStrings(m.headers);
  const topic = h[DlqHeaders.originalTopic];
  if (!topic) return { send: false, reason: 'no-original-topic' };
  if (h[DlqHeaders.originalOffset] === undefined) return { send: false, reason: 'never-published' };
  if (m.value === null && h[DlqHeaders.originalValueBytes] !== undefined) return { send: false, reason: 'value-dropped' };
  const count = h[DlqHeaders.redriveCount] ?? '0';
  if (!/^\d+$/.test(count)) return { send: false, reason: 'bad-redrive-count' };
  if (Number(count) >= maxRedrives) return { send: false, reason: 'max-redrives' };
  const headers: IHeaders = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined && !FAILURE_HEADERS.has(k)) headers[k] = v;
  headers[DlqHeaders.redriveCount] = String(Number(count) + 1);
  return { send: true, topic, errorClass: errorClassOf(h), message: { key: m.key, value: m.value, headers } };
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
  next: bigint;
  /** State changed since the last commit. */
  dirty: boolean;
}

interface Chunk { topic: string; messages: Message[]; offsets: bigint[]; classes: string[]; bytes: number }

export async function redrive(kafka: Kafka, config: Config, logger: Logger, o: RedriveOptions): Promise<RedriveResult> {
  const topic = o.topic;
  if (!topic.endsWith('.dlq')) throw new ValidationError(`${topic} is not a dead-letter topic (<topic>.dlq)`);
  const groupId = redriveGroupId(config, topic);
  const dryRun = o.dryRun ?? false;
  const readGroup = dryRun ? `${config.KAFKA_GROUP_PREFIX}.dlq-redrive-dry-${randomUUID().slice(0, 8)}` : groupId;
  const log = logger.child({ component: 'dlq-redrive', topic, group: groupId, dryRun });
  const result: RedriveResult = {
    topic, groupId, dryRun, maxRedrives: config.DLQ_MAX_REDRIVES, sent: 0, byOriginalTopic: {}, byErrorClass: {},
    refused: 0, refusedByReason: {}, refusedRecords: [], alreadyRedriven: 0, notSelected: 0, missingTopic: {}, positions: [], incomplete: null,
  };
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    if (!existing.has(topic)) throw new ValidationError(`topic ${topic} not found`);
    if (!dryRun) await assertGroupStopped(admin, groupId); // another redrive of this DLQ is running
    const bounds = [...await admin.fetchTopicOffsets(topic)].sort((a, b) => a.partition - b.partition);
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
    const plans: Plan[] = bounds.map((b) => {
      let c = committed.find((x) => x.partition === b.partition);
      if (c && Number(c.offset) > Number(b.high)) {
        // Past the end of the log: the topic was deleted and created again. Its records are all new to this group.
        log.warn({ partition: b.partition, committed: c.offset, end: b.high }, 'redrive position is past the end of the DLQ (topic recreated?); starting from its beginning');
        c = undefined;
      }
      const state = RedriveState.parse(c?.offset ?? null, c?.metadata ?? null, BigInt(b.low));
      let start = state.position;
      if (o.from?.kind === 'offset' && o.from.offset > start) start = o.from.offset;
      let end = BigInt(b.high);
      if (o.to?.kind === 'offset' && o.to.offset + 1n < end) end = o.to.offset + 1n;
      return { partition: b.partition, state, before: state.position, start, end, next: start, dirty: false };
    });
    const work = plans.filter((p) => p.start < p.end);
    if (work.length) await run(work);
    result.positions = plans.map((p) => ({ partition: p.partition, before: String(p.before), after: String(dryRun ? p.before : p.state.position), end: String(bounds.find((b) => b.partition === p.partition)!.high) }));
    result.byOriginalTopic = sorted(result.byOriginalTopic);
    result.byErrorClass = sorted(result.byErrorClass);
    log[dryRun ? 'debug' : 'info']({ sent: result.sent, refused: result.refused, notSelected: result.notSelected, missingTopic: result.missingTopic, incomplete: result.incomplete }, dryRun ? 'redrive dry run done' : 'redrive done');
    return result;

    async function run(work: Plan[]): Promise<void> {
      const consumer = kafka.consumer({ groupId: readGroup, sessionTimeout: 30_000, heartbeatInterval: 3000, maxBytesPerPartition: SEND_CHUNK_BYTES, allowAutoTopicCreation: false });
      const producer = dryRun ? null : createIdempotentProducer(kafka);
      const pending = new Set(work.map((p) => p.partition));
      let stopped = false;
      let finish!: () => void;
      let fail!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => { finish = res; fail = rej; });
      done.catch(() => {});
      const stop = (err?: unknown) => {
        if (stopped) return;
        stopped = true;
        if (err === undefined) finish(); else fail(err);
      };
      let chunk: Chunk | null = null;
      /** The batch being handled (one at a time): its send and commit finish before the consumer disconnects. */
      let inflight: Promise<void> = Promise.resolve();

      const commit = async (p: Plan) => {
        if (dryRun || !p.dirty) return;
        await consumer.commitOffsets([{ topic, partition: p.partition, offset: String(p.state.position), metadata: p.state.metadata() }]);
        p.dirty = false;
      };

      /** Sends the chunk, then (only once the broker acknowledged it) marks its records handled and commits. */
      const flush = async (p: Plan) => {
        const c = chunk;
        chunk = null;
        if (!c) return;
        if (producer) {
          await producer.send({ topic: c.topic, messages: c.messages, acks: -1 });
          for (const off of c.offsets) p.state.add(off);
          p.dirty = true;
          await commit(p);
        }
        result.sent += c.messages.length;
        result.byOriginalTopic[c.topic] = (result.byOriginalTopic[c.topic] ?? 0) + c.messages.length;
        for (const k of c.classes) result.byErrorClass[k] = (result.byErrorClass[k] ?? 0) + 1;
        log.debug({ to: c.topic, records: c.messages.length }, dryRun ? 'would send' : 'sent back');
      };

      /** Whether the state can still remember `offset` (with the chunk in flight) in the commit metadata. */
      const room = (p: Plan, offset: bigint) => p.state.fits([...(chunk?.offsets ?? []), offset]);
      const tooScattered = 'the records handled are too scattered past the position to remember in one commit; run a redrive without filters to move the position on';

      /** Handles one record; false when the run must stop here. */
      const handle = async (p: Plan, m: KafkaMessage): Promise<boolean> => {
        const offset = BigInt(m.offset);
        if (p.state.has(offset)) { result.alreadyRedriven++; return true; }
        const headers = headersToStrings(m.headers);
        const key = m.key?.toString('utf8') ?? null;
        if (!isSelected(o, { offset, timestamp: Number(m.timestamp), key, headers })) { result.notSelected++; return true; }
        const d = redriveDecision(m, config.DLQ_MAX_REDRIVES);
        if (!d.send) {
          if (!room(p, offset)) { await flush(p); result.incomplete = tooScattered; return false; }
          result.refused++;
          result.refusedByReason[d.reason] = (result.refusedByReason[d.reason] ?? 0) + 1;
          if (result.refusedRecords.length < MAX_LISTED) {
            result.refusedRecords.push({ partition: p.partition, offset: m.offset, key, errorClass: errorClassOf(headers), reason: d.reason, redriveCount: headers[DlqHeaders.redriveCount] ?? null });
          }
          p.state.add(offset);
          p.dirty = true;
          return true;
        }
        if (!existing.has(d.topic)) { result.missingTopic[d.topic] = (result.missingTopic[d.topic] ?? 0) + 1; return true; }
        const size = recordBytes(d.message);
        if (chunk && (chunk.topic !== d.topic || chunk.messages.length >= SEND_CHUNK || chunk.bytes + size > SEND_CHUNK_BYTES)) await flush(p);
        if (!room(p, offset)) { await flush(p); result.incomplete = tooScattered; return false; }
        chunk ??= { topic: d.topic, messages: [], offsets: [], classes: [], bytes: 0 };
        chunk.messages.push(d.message);
        chunk.offsets.push(offset);
        chunk.classes.push(d.errorClass);
        chunk.bytes += size;
        return true;
      };

      consumer.on(consumer.events.CRASH, (e) => stop(e.payload.error));
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const mine = e.payload.memberAssignment[topic] ?? [];
        if ([...pending].some((p) => !mine.includes(p))) {
          // Another member (a redrive started at the same moment) holds partitions we must read.
          groupState(admin, readGroup).then((s) => stop(new GroupActiveError(readGroup, s.state, s.members)), stop);
        }
      });
      const interrupt = () => {
        if (!stopped) result.incomplete = 'interrupted';
        stop();
      };
      if (o.signal?.aborted) interrupt();
      o.signal?.addEventListener('abort', interrupt, { once: true });

      await consumer.connect();
      try {
        await producer?.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => (inflight = (async () => {
            const p = work.find((x) => x.partition === batch.partition);
            if (stopped || !p || !pending.has(p.partition)) return;
            try {
              for (const m of batch.messages) {
                if (stopped || !isRunning() || isStale()) return;
                const offset = BigInt(m.offset);
                if (offset < p.next) continue;
                if (offset >= p.end) break;
                if (!(await handle(p, m))) { await commit(p); stop(); return; }
                p.next = offset + 1n;
                resolveOffset(m.offset);
              }
              await flush(p);
              await commit(p);
              await heartbeat();
              if (p.next >= p.end) {
                pending.delete(p.partition);
                if (!pending.size) stop();
              }
            } catch (err) {
              stop(err);
            }
          })()),
        });
        for (const p of work) consumer.seek({ topic, partition: p.partition, offset: String(p.start) });
        await done;
      } finally {
        o.signal?.removeEventListener('abort', interrupt);
        stopped = true;
        // A send in flight when interrupted is committed before the group is left: otherwise it would go out again next time.
        await inflight;
        await consumer.disconnect();
        await producer?.disconnect();
      }
    }
  } finally {
    if (dryRun) await admin.deleteGroups([readGroup]).catch(() => {});
    await admin.disconnect();
  }
}

function sorted(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}
