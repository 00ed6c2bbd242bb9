// Watches the sink runners of this process through their RunnerHooks: membership (joined, rebalancing, crashed),
// batches written (metrics, last write time), dead letters and retries (metrics), consumer lag read from the broker
// on each refresh() (the owner calls it every LAG_REFRESH_SECONDS; gauge for every partition of the group, so with
// several processes take max by partition) with its lag in seconds (the age of each partition's oldest unconsumed
// record, read with a RecordPeek), stalls — lag > 0 on the partitions this process's members own with no progress for
// STALL_SECONDS — which make the process not ready and are logged with the likely cause, and freshness: the newest bar
// each sink wrote per symbol and interval (from the runner's onWritten `bars`, no store query), its age on /metrics,
// and, while a session of GAPS_CALENDAR is open, a series of SYMBOLS late beyond FRESHNESS_LIMITS makes the process
// not ready (lib/freshness.ts: late means the next bar should have been complete that long ago; a closed market is
// never late). Freshness covers the partitions this process's members own: a partition that moved to another process
// takes its series along. Feeds /ready and /health.
import type { Admin, Consumer } from 'kafkajs';
import { calendarOf, type ExchangeCalendar } from '../lib/calendar.ts';
import type { Config } from '../lib/config.ts';
import { describeError, errorClass, errorMessage } from '../lib/errors.ts';
import { formatDuration, freshnessOf, isLiveSource, type BarFreshness } from '../lib/freshness.ts';
import { groupLag, maxLagSeconds, withLagSeconds, type PartitionLagSeconds } from '../lib/lag.ts';
import type { Logger } from '../lib/logger.ts';
import type { DataAge, Metrics } from '../lib/metrics.ts';
import { partitionKey, type RecordPeek } from '../lib/records.ts';
import type { RunnerHooks } from './runner.ts';
import type { BarOfRecord, Sink } from './types.ts';

type MemberState = 'starting' | 'joined' | 'rebalancing' | 'crashed' | 'stopped';

interface Member { sink: Sink; groupId: string; state: MemberState; partitions: number; assigned: Set<string>; detail?: string }

interface GroupState {
  groupId: string;
  sink: Sink;
  topics: Set<string>;
  lastWriteAt: number | null;
  lastProgressAt: number;
  committed: number | null;
  /** Lag of the whole group, and of the partitions this process's members own (all partitions while none joined). */
  lag: number | null;
  ownLag: number | null;
  /** Largest lag in seconds of the group's partitions; null when unknown (no peek, or a partition's record unread). */
  lagSeconds: number | null;
  partitions: PartitionLagSeconds[];
  /** Newest bar written per series, per partition (`topic:partition` → `symbol\0interval` → bar). */
  bars: Map<string, Map<string, BarOfRecord>>;
  lagError: string | null;
  lastRetry: { at: number; error: string } | null;
  stalled: boolean;
}

/** A series a sink of this process wrote, as /health shows it. */
export interface SeriesFreshness extends BarFreshness {
  symbol: string;
  interval: string;
  source: string;
  /** Event time of the newest bar written (ISO). */
  newestBar: string;
  /** Whether it can make the process not ready: a symbol of SYMBOLS from a live source (not backfill nor file). */
  judged: boolean;
}

export interface GroupReport {
  members: { state: MemberState; partitions: number; detail?: string }[];
  lag: number | null;
  /** Lag of the partitions this process's members own. */
  ownLag: number | null;
  /** The age of the group's oldest unconsumed record, seconds (0 when caught up; null when unknown). */
  lagSeconds: number | null;
  partitions: { topic: string; partition: number; committed: number | null; latest: number; lag: number; lagSeconds: number | null }[];
  /** The newest bar per series the group's sink wrote in this process, with its age and lateness. */
  freshness: SeriesFreshness[];
  lastWriteAt: string | null;
  lastProgressAt: string;
  stalled: boolean;
  lagError?: string;
  lastRetryError?: string;
}

export interface GroupMonitor {
  /** Pass to startSinks (merge with others by spreading). */
  readonly hooks: RunnerHooks;
  /** Why the groups are not ready: a member not joined, or a stalled group. Empty when ready. */
  notReady(): string[];
  /** Per group: members, lag, last write, stall. */
  groups(): Record<string, GroupReport>;
  /** One sink instance per sink name, for pinging its store. */
  sinks(): Sink[];
  /** Reads the lag of every group from the broker once; updates gauges and stall state. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export interface GroupMonitorOptions {
  /** A connected admin client (the owner connects and disconnects it). */
  admin: () => Promise<Admin>;
  /** Reads the timestamps behind lag in seconds (the owner closes it); without it lag in seconds is unknown. */
  peek?: RecordPeek;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The clock of stalls, lag in seconds and freshness (tests pretend a Tuesday or a Saturday). */
  now?: () => number;
}

/** What the monitor knows: this process's members and their groups. */
interface Monitoring {
  o: GroupMonitorOptions;
  now: () => number;
  calendar: ExchangeCalendar;
  log: Logger;
  stallMs: number;
  members: Map<Consumer, Member>;
  groups: Map<string, GroupState>;
}

export function createGroupMonitor(o: GroupMonitorOptions): GroupMonitor {
  const m: Monitoring = {
    o, now: o.now ?? Date.now, calendar: calendarOf(o.config.GAPS_CALENDAR), log: o.logger.child({ component: 'group-monitor' }),
    stallMs: o.config.STALL_SECONDS * 1000, members: new Map(), groups: new Map(),
  };
  const removeAgeSource = o.metrics.dataAgeSource(() => dataAges(m));
  let refreshing: Promise<void> | null = null;
  function refresh(): Promise<void> {
    refreshing ??= refreshOnce(m)
      .catch((err: unknown) => { m.log.debug({ err: errorMessage(err) }, 'lag refresh failed'); })
      .finally(() => { refreshing = null; });
    return refreshing;
  }
  return {
    hooks: monitorHooks(m),
    notReady: () => notReady(m),
    groups: () => reports(m),
    sinks: () => [...m.groups.values()].map((g) => g.sink),
    refresh,
    async stop() {
      removeAgeSource();
      await refreshing;
    },
  };
}

function groupOf(m: Monitoring, groupId: string, sink: Sink): GroupState {
  let g = m.groups.get(groupId);
  if (!g) {
    g = {
      groupId, sink, topics: new Set(), lastWriteAt: null, lastProgressAt: m.now(), committed: null, lag: null, ownLag: null, lagSeconds: null,
      partitions: [], bars: new Map(), lagError: null, lastRetry: null, stalled: false,
    };
    m.groups.set(groupId, g);
  }
  return g;
}

function watch(m: Monitoring, consumer: Consumer, member: Member): void {
  // kafkajs stops a crashing consumer (STOP) before it reports the CRASH, and may then restart it: a crash or a join
  // puts the member back, so a crashed member is never forgotten and a restarted one is tracked again.
  const set = (state: MemberState, detail?: string) => { member.state = state; member.detail = detail; m.members.set(consumer, member); };
  const { GROUP_JOIN, REBALANCING, CRASH, STOP } = consumer.events;
  consumer.on(GROUP_JOIN, (e) => {
    const assignment = Object.entries(e.payload.memberAssignment);
    member.partitions = assignment.reduce((n, [, ps]) => n + ps.length, 0);
    member.assigned = new Set(assignment.flatMap(([t, ps]) => ps.map((p) => partitionKey(t, p))));
    set('joined');
    forgetMovedSeries(m, member.groupId);
  });
  consumer.on(REBALANCING, () => set('rebalancing'));
  consumer.on(CRASH, (e) => {
    m.o.metrics.error(member.sink.name, e.payload.error.name);
    set('crashed', `${e.payload.error.name}: ${describeError(e.payload.error)}${e.payload.restart ? ' (restarting)' : ''}`);
  });
  // A stopped member is no longer part of this process (shutdown, or a rebuild that restarts its sinks).
  consumer.on(STOP, () => { m.members.delete(consumer); forgetMovedSeries(m, member.groupId); });
}

/** Drops the series of partitions no member of this process owns now (they moved to another process, or the members stopped). */
function forgetMovedSeries(m: Monitoring, groupId: string): void {
  const g = m.groups.get(groupId);
  if (!g) return;
  const owned = ownedPartitions(m, groupId);
  for (const k of g.bars.keys()) if (!owned.has(k)) g.bars.delete(k);
}

/** `topic:partition` of every partition this process's members of the group were assigned at their latest join. */
function ownedPartitions(m: Monitoring, groupId: string): Set<string> {
  return new Set([...m.members.values()].filter((x) => x.groupId === groupId).flatMap((x) => [...x.assigned]));
}

function updateStall(m: Monitoring, g: GroupState): void {
  const idleMs = m.now() - g.lastProgressAt;
  const stalled = g.ownLag !== null && g.ownLag > 0 && idleMs >= m.stallMs;
  if (stalled === g.stalled) return;
  g.stalled = stalled;
  m.o.metrics.groupStalled(g.groupId, stalled);
  const retry = g.lastRetry && g.lastRetry.at >= g.lastProgressAt ? g.lastRetry.error : undefined;
  const states = [...m.members.values()].filter((x) => x.groupId === g.groupId).map((x) => x.state);
  if (stalled) {
    const why = retry ? `store writes keep failing (${retry})`
      : states.some((s) => s !== 'joined') ? `members not consuming (${states.join(', ')})`
      : 'no batch completed (slow store, stuck write or a member without partitions)';
    const noProgressSeconds = Math.round(idleMs / 1000);
    const stallSeconds = m.o.config.STALL_SECONDS;
    m.log.warn({ group: g.groupId, lag: g.ownLag, noProgressSeconds, stallSeconds, lastWriteAt: iso(g.lastWriteAt), members: states, lastRetryError: retry },
      `consumer group ${g.groupId} stalled: lag ${g.ownLag} and no progress for ${noProgressSeconds} s: ${why}; not ready until it moves`);
  } else {
    m.log.info({ group: g.groupId, lag: g.lag }, `consumer group ${g.groupId} is progressing again`);
  }
}

async function refreshOnce(m: Monitoring): Promise<void> {
  if (m.groups.size === 0) return;
  const admin = await m.o.admin();
  for (const g of m.groups.values()) {
    try {
      const counted = await groupLag(admin, g.groupId, [...g.topics]);
      const parts = await withLagSeconds(m.o.peek, counted, m.now()).catch((err: unknown) => {
        m.log.debug({ group: g.groupId, err: errorMessage(err) }, 'could not read the oldest unconsumed records: lag in seconds unknown');
        return withLagSeconds(undefined, counted, m.now());
      });
      const joined = [...m.members.values()].filter((x) => x.groupId === g.groupId && x.state === 'joined');
      const owned = new Set(joined.flatMap((x) => [...x.assigned]));
      const mine = joined.length ? parts.filter((p) => owned.has(partitionKey(p.topic, p.partition))) : parts;
      const committed = mine.reduce((n, p) => n + (p.committed ?? 0), 0);
      if (g.committed !== null && committed > g.committed) g.lastProgressAt = m.now();
      g.committed = committed;
      g.partitions = parts;
      g.lag = parts.reduce((n, p) => n + p.lag, 0);
      g.ownLag = mine.reduce((n, p) => n + p.lag, 0);
      g.lagSeconds = maxLagSeconds(parts);
      g.lagError = null;
      for (const p of parts) {
        m.o.metrics.consumerLag(g.groupId, p.topic, p.partition, p.lag);
        m.o.metrics.consumerLagSeconds(g.groupId, p.topic, p.partition, p.lagSeconds);
      }
    } catch (err) {
      g.lagError = describeError(err);
      m.log.debug({ group: g.groupId, err: errorMessage(err) }, 'could not read consumer lag');
    }
    updateStall(m, g);
  }
}

function monitorHooks(m: Monitoring): RunnerHooks {
  const { metrics } = m.o;
  return {
    onMember(e) {
      const member: Member = { sink: e.sink, groupId: e.groupId, state: 'starting', partitions: 0, assigned: new Set() };
      m.members.set(e.consumer, member);
      const g = groupOf(m, e.groupId, e.sink);
      for (const t of e.topics) g.topics.add(t);
      metrics.groupStalled(e.groupId, false);
      watch(m, e.consumer, member);
    },
    onWritten(e) {
      const { sink, topic, records, writeMs, timestamps, writtenAt } = e;
      metrics.sinkBatch({ sink, group: e.groupId, topic, records, written: timestamps.length, writeMs, timestamps, writtenAt, stale: e.stale });
      const g = m.groups.get(e.groupId);
      if (!g) return;
      if (e.timestamps.length > 0) g.lastWriteAt = e.writtenAt;
      g.lastProgressAt = e.writtenAt;
      const key = partitionKey(e.topic, e.partition);
      // A batch of a partition that moved meanwhile (its write finished after the rebalance) says nothing of this process's series.
      if (e.bars?.length && ownedPartitions(m, e.groupId).has(key)) {
        const series = g.bars.get(key) ?? g.bars.set(key, new Map()).get(key)!;
        for (const b of e.bars) {
          const k = `${b.symbol}\u0000${b.interval}`;
          if ((series.get(k)?.eventTime ?? -Infinity) <= b.eventTime) series.set(k, b);
        }
      }
      if (g.stalled) updateStall(m, g);
    },
    onDeadLetter(e) { metrics.deadLettered(e.topic, e.reason); },
    onRetry(e) {
      metrics.error(e.sink, errorClass(e.error));
      const g = m.groups.get(e.groupId);
      // What /health shows and the stall log names: the class and a stable description, not the driver's text.
      if (g) g.lastRetry = { at: m.now(), error: `${errorClass(e.error)}: ${describeError(e.error)}` };
    },
  };
}

function notReady(m: Monitoring): string[] {
  const out: string[] = [];
  for (const x of m.members.values()) {
    if (x.state === 'joined') continue;
    const what = x.state === 'starting' ? 'connecting to its store and joining its group' : x.state;
    out.push(`${x.groupId}: a member is ${what}${x.detail ? ` (${x.detail})` : ''}`);
  }
  for (const g of m.groups.values()) {
    if (g.stalled) out.push(`${g.groupId}: stalled (lag ${g.ownLag}, no progress since ${iso(g.lastProgressAt)})`);
  }
  // A closed market is never late: outside a session nothing here can make the process not ready.
  if (!m.calendar.sessionAt(m.now())) return out;
  for (const g of m.groups.values()) {
    for (const f of freshness(m, g)) {
      if (!f.judged || !f.late) continue;
      out.push(`${g.groupId}: ${f.symbol} ${f.interval} is ${formatDuration(f.lateSeconds)} late in ${storeOf(g.sink)} (newest bar ${f.newestBar}, ended ` +
        `${formatDuration(f.ageSeconds)} ago; limit ${formatDuration(f.limitSeconds)} while the ${m.calendar.name} market is open)`);
    }
  }
  return out;
}

/** The store a sink writes, as marketstream_data_age_seconds labels it: postgres, redis, neo4j, features. */
const storeOf = (sink: Sink) => sink.name.replace(/-sink$/, '');

/** The newest bar per series among the partitions this process holds. */
function newestSeries(g: GroupState): BarOfRecord[] {
  const newest = new Map<string, BarOfRecord>();
  for (const series of g.bars.values()) {
    for (const [k, b] of series) if ((newest.get(k)?.eventTime ?? -Infinity) <= b.eventTime) newest.set(k, b);
  }
  return [...newest.values()].sort((a, b) => a.symbol.localeCompare(b.symbol) || a.interval.localeCompare(b.interval));
}

function freshness(m: Monitoring, g: GroupState): SeriesFreshness[] {
  const now = m.now();
  const symbols = new Set(m.o.config.SYMBOLS);
  return newestSeries(g).map((b) => ({
    symbol: b.symbol, interval: b.interval, source: b.source, newestBar: iso(b.eventTime)!,
    ...freshnessOf(m.calendar, b, now, m.o.config.FRESHNESS_LIMITS), judged: symbols.has(b.symbol) && isLiveSource(b.source),
  }));
}

function* dataAges(m: Monitoring): Generator<DataAge> {
  for (const g of m.groups.values()) {
    for (const f of freshness(m, g)) yield { store: storeOf(g.sink), symbol: f.symbol, interval: f.interval, seconds: f.ageSeconds };
  }
}

function reports(m: Monitoring): Record<string, GroupReport> {
  const out: Record<string, GroupReport> = {};
  for (const g of m.groups.values()) {
    out[g.groupId] = {
      members: [...m.members.values()].filter((x) => x.groupId === g.groupId)
        .map((x) => ({ state: x.state, partitions: x.partitions, ...(x.detail ? { detail: x.detail } : {}) })),
      lag: g.lag,
      ownLag: g.ownLag,
      lagSeconds: g.lagSeconds,
      partitions: g.partitions.map((p) => ({
        topic: p.topic, partition: p.partition, committed: p.committed, latest: p.latest, lag: p.lag, lagSeconds: p.lagSeconds,
      })),
      freshness: freshness(m, g),
      lastWriteAt: iso(g.lastWriteAt),
      lastProgressAt: iso(g.lastProgressAt)!,
      stalled: g.stalled,
      ...(g.lagError ? { lagError: g.lagError } : {}),
      ...(g.lastRetry ? { lastRetryError: g.lastRetry.error } : {}),
    };
  }
  return out;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
