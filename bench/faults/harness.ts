// What every fault scenario shares: an isolated price topic with a stream of distinct bars (and an invalid "marker"
// record after every MARKER_EVERY-th bar of a symbol, which the sink dead-letters: a marker dead-lettered twice means a
// record was processed twice, which upserts would otherwise hide), postgres-sink members as real OS processes, and the
// figures of the table: lost, doubled, in DLQ, rebalances (group joins after the group settled), seconds to recover.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { groupIdOf } from '../../consumers/catalog.ts';
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { headersToStrings } from '../../lib/record-headers.ts';
import { readLog, topicRanges } from '../../lib/records.ts';
import { groupLag } from '../../lib/lag.ts';
import type { Logger } from '../../lib/logger.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { addDiffs, eventReferenceDiff, priceReferenceDiff, watchOffsets, type OffsetWatch, type ReferenceDiff } from './invariants.ts';

export interface FaultResult {
  fault: string;
  /** Good records the stream carried. */
  records: number;
  lost: number;
  doubled: number;
  /** Records in the DLQ other than the markers the stream sends on purpose. */
  inDlq: number;
  rebalances: number;
  /** From the end of the fault until every record landed and the lag was 0; null when it never did. */
  recoverSeconds: number | null;
  /** Decreases of the group's committed offsets seen while the fault ran (per partition; excused rewinds left out); null: not watched. */
  offsetDecreases: number | null;
  /** Keys whose stored row differs from the newest-wins state of the log (./invariants.ts); null: not compared. */
  differences: number | null;
  notes?: string;
}

export interface Scenario {
  name: string;
  run(ctx: FaultContext): Promise<FaultResult>;
}

export interface FaultContext { config: Config; logger: Logger; kafka: Kafka; pool: Pool; records: number; say(m: string): void }

export const MARKER_EVERY = 100;
const T0 = Date.UTC(2025, 0, 6, 0, 0);
const MINUTE = 60_000;

export const tag = () => randomBytes(4).toString('hex');

/**
 * A stream of minute bars for `symbols` on a fresh isolated topic, with markers; with `events`, also events of ids of
 * its own (publications, re-publications, withdrawals) on the shared market-events topic: main has no setting that
 * renames it for the members (PRICE_UPDATES_TOPIC only), and every member reads it anyway. close() withdraws them all,
 * so later readers of that log end without them.
 */
export async function createStream(ctx: FaultContext, name: string, o: { symbols?: number; config?: Config; events?: boolean } = {}) {
  const config = o.config ?? ctx.config;
  const id = tag();
  const topic: TopicDef<PriceUpdate> = withName(priceUpdates, `faults-${name}-${id}`);
  const events: TopicDef<MarketEvent> | undefined = o.events ? marketEvents : undefined;
  await ensureTopics(ctx.kafka, config, events ? [topic, events] : [topic]);
  const eventIds = new Set<string>();
  const symbols = Array.from({ length: o.symbols ?? 20 }, (_, i) => `F${id.slice(0, 5).toUpperCase()}${String(i).padStart(2, '0')}`);
  const publisher: Publisher = createPublisher({ kafka: ctx.kafka, serde: createSerde(config), logger: ctx.logger });
  await publisher.connect();
  let published = 0;
  let markers = 0;
  let corrections = 0;
  let next = 0;
  /** Bar i of symbol s; revision r > 0 is a correction of it (the same bar with other values). */
  const bar = (s: string, i: number, r = 0): PriceUpdate => {
    const close = 100 + (i % 97) / 10 + r * 0.25;
    return {
      symbol: s, interval: '1m', eventTime: T0 + i * MINUTE, open: close - 0.5, high: close + 1, low: close - 1, close, volume: 1000 + i + r,
      source: 'synthetic', ingestTime: T0 + i * MINUTE + 500 + r * 1000, quality: 1,
    };
  };
  const marker = (s: string, i: number): PriceUpdate => ({ ...bar(s, i), eventTime: T0 - (i + 1) * MINUTE, high: 1 });
  const event = (eventId: string, r: number): MarketEvent => ({
    id: eventId, symbols: [symbols[Number(eventId.split('-').at(-1)) % symbols.length]!], headline: `event ${eventId}, revision ${r}`,
    summary: r % 2 ? `revised ${r}` : null, source: 'faults', url: null, publishedAt: T0 + r * MINUTE, category: null, ingestTime: T0 + r * MINUTE + 500,
  });

  return {
    topic, events, symbols, publisher,
    get published() { return published; },
    get markers() { return markers; },
    get corrections() { return corrections; },
    /** Bars [from, to) of every symbol, markers included, in chunks; with `revision` > 0, corrections of them (no markers). */
    async publish(from: number, to: number, revision = 0) {
      const batch: PriceUpdate[] = [];
      for (let i = from; i < to; i++) {
        for (const s of symbols) {
          batch.push(bar(s, i, revision));
          if (revision === 0 && (i + 1) % MARKER_EVERY === 0) { batch.push(marker(s, i)); markers++; }
        }
      }
      await publisher.send(topic, batch, { source: 'faults' });
      if (revision > 0) { corrections += (to - from) * symbols.length; return; }
      published += (to - from) * symbols.length;
      next = Math.max(next, to);
    },
    /** Events `ids` (e.g. `${id}-7`: the number picks the symbol) at `revision`: a publication, or a re-publication with other values. */
    async publishEvents(ids: readonly string[], revision: number) {
      for (const e of ids) eventIds.add(e);
      await publisher.send(events!, ids.map((e) => event(e, revision)), { source: 'faults' });
    },
    /** The id of event n of this stream. */
    eventId: (n: number) => `${id}-${n}`,
    /** Withdrawals: a tombstone per id. */
    async withdraw(ids: readonly string[]) {
      for (const e of ids) await publisher.sendTombstone(events!, e, { source: 'faults' });
    },
    /** The stored rows against the newest-wins state of the log (prices, and events when the stream has them). */
    async reference(): Promise<ReferenceDiff> {
      const prices = await priceReferenceDiff(ctx.kafka, config, ctx.pool, topic, symbols);
      return events ? addDiffs(prices, await eventReferenceDiff(ctx.kafka, config, ctx.pool, events, (e) => e.startsWith(`${id}-`))) : prices;
    },
    /** Publishes `total` more bars (over all symbols) at about `perSecond`, calling `during(fraction)` between chunks. */
    async publishPaced(total: number, perSecond: number, during?: (fraction: number) => Promise<void>) {
      const first = next;
      const end = first + Math.ceil(total / symbols.length);
      const chunk = Math.max(1, Math.round(perSecond / 10 / symbols.length));
      for (let i = first; i < end; i += chunk) {
        const started = Date.now();
        await this.publish(i, Math.min(end, i + chunk));
        await during?.((i - first) / (end - first));
        await sleep(Math.max(0, 100 - (Date.now() - started)));
      }
    },
    async rows(): Promise<number> {
      return Number((await ctx.pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0].count);
    },
    /** Dead letters: markers (ValidationError from the sink) and everything else. */
    async dlq(): Promise<{ markers: number; other: number }> {
      let m = 0;
      let other = 0;
      // Read to the end, at read_committed (the sinks write dead letters in transactions, whose markers take offsets).
      const admin = ctx.kafka.admin();
      await admin.connect();
      const ranges = await topicRanges(admin, topic.dlq).finally(() => admin.disconnect());
      await readLog(ctx.kafka, {
        ranges, group: { throwaway: `faults-read-${tag()}` },
        onRecord: (message) => {
          const h = headersToStrings(message.headers);
          if (h[DlqHeaders.errorClass] === 'ValidationError' && /^high 1 is below/.test(h[DlqHeaders.errorMessage] ?? '')) m++; else other++;
        },
      });
      return { markers: m, other };
    },
    async close() {
      if (events) await publisher.sendRaw(events.name, [...eventIds].map((key) => ({ key, value: null }))).catch(() => {});
      await publisher.disconnect();
      await ctx.pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => {});
      if (events) await ctx.pool.query('DELETE FROM market_events WHERE id = ANY($1)', [[...eventIds]]).catch(() => {});
      const admin = ctx.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic.name, topic.dlq] }).catch(() => {});
      await admin.disconnect();
    },
  };
}
export type Stream = Awaited<ReturnType<typeof createStream>>;


/** A member's environment: the stream's topic and a group prefix of its own. */
export const envOf = (stream: { topic: { name: string } }, extra: Record<string, string> = {}) => ({
  PRICE_UPDATES_TOPIC: stream.topic.name, KAFKA_GROUP_PREFIX: `faults-${tag()}`, ...extra,
});

/** A TCP proxy in front of PostgreSQL (to cut or slow the members' link) and the POSTGRES_URL through it. */
export async function proxiedPostgres(ctx: FaultContext): Promise<{ proxy: TcpProxy; url: string }> {
  const pg = new URL(ctx.config.POSTGRES_URL);
  const proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
  const via = new URL(ctx.config.POSTGRES_URL);
  via.port = String(proxy.port);
  return { proxy, url: via.toString() };
}

/** A `marketstream consume postgres` process; its JSON logs are kept to count group joins. */
export interface Member {
  child: ChildProcess;
  joins(): number;
  /** When each join was logged (epoch ms). */
  joinTimes: readonly number[];
  exited: Promise<number | null>;
}

/** Member processes not exited yet: killMembers() ends them when the run itself is stopped. */
const live = new Set<ChildProcess>();

export function killMembers(): void {
  for (const c of live) c.kill('SIGKILL');
}

export function startMember(env: Record<string, string>): Member {
  const child = spawn(process.execPath, ['bin/marketstream.js', 'consume', 'postgres'], {
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', METRICS_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let joins = 0;
  const joinTimes: number[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffered = '';
    stream.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        if (l.includes('"msg":"joined group"')) { joins++; joinTimes.push(Date.now()); }
        if (process.env.FAULTS_MEMBER_LOGS && /"level":(40|50|60)/.test(l)) process.stderr.write(`member ${child.pid}: ${l.slice(0, 400)}\n`);
      }
    });
  }
  live.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { live.delete(child); resolve(code); }));
  return { child, joins: () => joins, joinTimes, exited };
}

/** Waits until no member joined for `quietMs`: the group has settled. Returns the total joins so far. */
export async function settled(members: readonly Member[], quietMs = 8000, deadlineMs = 180_000): Promise<number> {
  const total = () => members.reduce((n, m) => n + m.joins(), 0);
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const before = total();
    await sleep(quietMs);
    if (members.some((m) => m.child.exitCode !== null)) throw new Error('a member process exited while the group was settling');
    if (total() === before && members.every((m) => m.joins() > 0)) return before;
    if (Date.now() > deadline) {
      throw new Error(`the group did not settle within ${deadlineMs / 1000} s (joins so far: ${members.map((m) => m.joins()).join(', ')})`);
    }
  }
}

/** Waits until every published bar is in PostgreSQL and the group's lag is 0; the seconds it took, or null at the deadline. */
export async function recovered(ctx: FaultContext, stream: Stream, config: Config, from: number, deadlineMs = 600_000): Promise<number | null> {
  const group = groupIdOf(config, 'postgres');
  while (Date.now() - from < deadlineMs) {
    if ((await stream.rows()) >= stream.published) {
      const lag = await groupLag(ctx.kafka, group, stream.events ? [stream.topic.name, stream.events.name] : [stream.topic.name]).catch(() => null);
      if (lag && lag.every((p) => p.lag === 0)) return (Date.now() - from) / 1000;
    }
    await sleep(500);
  }
  return null;
}

/** The committed-offset watch of a scenario's postgres-sink group (started before its members). */
export function watchGroup(ctx: FaultContext, env: { KAFKA_GROUP_PREFIX: string }): OffsetWatch {
  return watchOffsets(ctx.kafka, [groupIdOf({ ...ctx.config, KAFKA_GROUP_PREFIX: env.KAFKA_GROUP_PREFIX }, 'postgres')]);
}

/** The table row figures from a finished stream: its counts, the offset watch (stopped here) and the reference comparison. */
export async function figures(stream: Stream, o: {
  fault: string; rebalances: number; recoverSeconds: number | null; notes?: string; replayedMarkers?: number; watch: OffsetWatch;
}): Promise<FaultResult> {
  const decreases = await o.watch.stop();
  const rows = await stream.rows();
  const dlq = await stream.dlq();
  const ref = await stream.reference();
  const notes = [
    o.notes,
    decreases.length ? `offsets fell: ${decreases.slice(0, 3).map((d) => `p${d.partition} ${d.from} → ${d.to}`).join(', ')}` : '',
    ref.differences ? `reference: ${ref.missing} missing, ${ref.extra} extra, ${ref.wrong} other values (e.g. ${ref.examples[0]})` : '',
  ].filter(Boolean).join('; ');
  return {
    fault: o.fault, records: stream.published, lost: Math.max(0, stream.published - rows),
    doubled: Math.max(0, dlq.markers - stream.markers - (o.replayedMarkers ?? 0)), inDlq: dlq.other,
    rebalances: o.rebalances, recoverSeconds: o.recoverSeconds, offsetDecreases: decreases.length, differences: ref.differences,
    ...(notes ? { notes } : {}),
  };
}

export async function stopMembers(members: readonly Member[]): Promise<void> {
  for (const m of members) if (m.child.exitCode === null) m.child.kill('SIGTERM');
  await Promise.all(members.map((m) => Promise.race([m.exited, sleep(20_000).then(() => { m.child.kill('SIGKILL'); return null; })])));
}
