// The two invariants every fault row checks.
// - Committed offsets never decrease: watchOffsets polls every group under test (admin.fetchOffsets, all its topics)
//   every 200 ms while the fault runs and records each decrease per partition; a scenario that rewinds on purpose
//   (rebuild) excuses exactly those rewinds.
// - Each store equals a reference: referenceDiff reads the scenario's topics from the start (lib/records.ts readLog),
//   keeps what the sink keeps (records that decode and pass the sink's validation), and applies the sink's rule: the
//   last record per key in offset order, a tombstone deleting. The resulting rows are compared column by column with
//   what price_data and market_events hold for the scenario's symbols and event ids. Honest rather than complete:
//   it is the rule the store is meant to apply, computed in memory, not a second sink run into an empty store.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { isRetriable } from '../../lib/errors.ts';
import { readLog, throwawayGroup, topicRanges } from '../../lib/records.ts';
import { createSerde } from '../../lib/serde.ts';
import type { Config } from '../../lib/config.ts';
import type { Pool } from '../../lib/stores/postgres.ts';
import type { MarketEvent, PriceUpdate } from '../../schemas/types.generated.ts';
import { validateMarketEvent } from '../../topics/market-event.ts';
import { validatePriceUpdate } from '../../topics/price-update.ts';
import type { TopicDef } from '../../topics/index.ts';

export interface OffsetDecrease { group: string; topic: string; partition: number; from: number; to: number; at: number }

export interface OffsetWatch {
  /** Decreases seen so far (excused ones left out). */
  decreases(): OffsetDecrease[];
  /** Leaves out decreases matching `rewind` (once per matching partition): a rewind the scenario does on purpose. */
  excuse(rewinds: ReadonlyArray<{ topic: string; partition: number; from: number | null; to: number }>): void;
  /** How many decreases were excused. */
  excused(): number;
  /** One last poll, then stops; the decreases seen. */
  stop(): Promise<OffsetDecrease[]>;
}

/** Watches not stopped yet: a scenario that failed leaves its own, stopped by stopWatches(). */
const active = new Set<OffsetWatch>();

export async function stopWatches(): Promise<void> {
  await Promise.all([...active].map((w) => w.stop()));
}

/** Polls the committed offsets of `groups` every `intervalMs` until stop(). An offset going to none (-1) counts as a decrease. */
export function watchOffsets(kafka: Kafka, groups: readonly string[], intervalMs = 200): OffsetWatch {
  const admin = kafka.admin();
  const last = new Map<string, number>();
  const seen: OffsetDecrease[] = [];
  let excused: OffsetDecrease[] = [];
  let running = true;
  const poll = async () => {
    for (const group of groups) {
      const topics = await admin.fetchOffsets({ groupId: group }).catch(() => null);
      for (const t of topics ?? []) {
        for (const p of t.partitions) {
          const k = `${group}\u0000${t.topic}\u0000${p.partition}`;
          const now = Number(p.offset);
          const before = last.get(k);
          if (before !== undefined && before >= 0 && now < before) {
            seen.push({ group, topic: t.topic, partition: p.partition, from: before, to: now, at: Date.now() });
          }
          last.set(k, now);
        }
      }
    }
  };
  const loop = (async () => {
    await admin.connect();
    while (running) {
      await poll();
      await sleep(intervalMs);
    }
    await poll();
    await admin.disconnect();
  })();
  loop.catch(() => {});
  const counted = () => seen.filter((d) => !excused.includes(d));
  const watch: OffsetWatch = {
    decreases: counted,
    excuse(rewinds) {
      for (const r of rewinds) {
        const d = seen.find((x) => !excused.includes(x) && x.topic === r.topic && x.partition === r.partition && x.to === r.to
          && (r.from === null || x.from === r.from));
        if (d) excused = [...excused, d];
      }
    },
    excused: () => excused.length,
    async stop() {
      running = false;
      active.delete(watch);
      await loop.catch(() => {});
      return counted();
    },
  };
  active.add(watch);
  return watch;
}

/** How the store differs from the reference: keys whose row is missing, is there but should not be, or holds other values. */
export interface ReferenceDiff { differences: number; missing: number; extra: number; wrong: number; examples: string[] }

/** The newest-wins state of `topic` by key: the last valid record per key in offset order (null: deleted by a tombstone). */
async function lastPerKey<T>(kafka: Kafka, config: Config, topic: TopicDef<T>, keyOf: (v: T) => string,
  validate: ((v: T) => string | null) | null, tombstones: boolean): Promise<Map<string, T | null>> {
  const admin = kafka.admin();
  await admin.connect();
  const ranges = await topicRanges(admin, topic.name).finally(() => admin.disconnect());
  const serde = createSerde(config);
  const out = new Map<string, T | null>();
  await readLog(kafka, {
    ranges, group: throwawayGroup(config.KAFKA_GROUP_PREFIX, 'faults-reference'), sessionTimeoutMs: 30_000, maxBytesPerPartition: 4 * 1024 * 1024,
    onRecord: async (m) => {
      if (!m.value) {
        const key = m.key?.toString('utf8');
        if (tombstones && key !== undefined) out.set(key, null);
        return;
      }
      let v: T;
      try {
        v = (await serde.decode(topic, m.value)).value;
      } catch (err) {
        if (isRetriable(err)) throw err;
        return; // the sink dead-letters it: nothing in the store
      }
      if (validate?.(v)) return; // likewise
      out.set(keyOf(v), v);
    },
  });
  return out;
}

const ms = (v: unknown) => (v instanceof Date ? v.getTime() : v == null ? null : Number(v));
const same = (a: unknown, b: unknown) => (a ?? null) === (b ?? null);

function compare<R>(expected: Map<string, unknown>, rows: Map<string, R>, differ: (want: never, row: R) => string | null): ReferenceDiff {
  const d: ReferenceDiff = { differences: 0, missing: 0, extra: 0, wrong: 0, examples: [] };
  const note = (s: string) => { d.differences++; if (d.examples.length < 3) d.examples.push(s); };
  for (const [key, want] of expected) {
    const row = rows.get(key);
    if (want === null) { if (row) { d.extra++; note(`${key}: present, deleted in the log`); } continue; }
    if (!row) { d.missing++; note(`${key}: missing`); continue; }
    const why = differ(want as never, row);
    if (why) { d.wrong++; note(`${key}: ${why}`); }
  }
  for (const key of rows.keys()) if (!expected.has(key)) { d.extra++; note(`${key}: not in the log`); }
  return d;
}

/** price_data rows of `symbols` against the newest-wins state of the price topic. */
export async function priceReferenceDiff(kafka: Kafka, config: Config, pool: Pool, topic: TopicDef<PriceUpdate>,
  symbols: readonly string[]): Promise<ReferenceDiff> {
  const key = (symbol: string, interval: string, t: number) => `${symbol}|${interval}|${t}`;
  const expected = await lastPerKey(kafka, config, topic, (v) => key(v.symbol, v.interval, v.eventTime), (v) => validatePriceUpdate(v, Date.now()), false);
  const { rows } = await pool.query(
    `SELECT symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at, vwap, trades
     FROM price_data WHERE symbol = ANY($1)`, [symbols]);
  const stored = new Map(rows.map((r) => [key(r.symbol, r.interval, ms(r.ts)!), r]));
  return compare(expected, stored, (b: PriceUpdate, r: Record<string, unknown>) => {
    const cols: Array<[string, unknown, unknown]> = [
      ['open', b.open, r.open], ['high', b.high, r.high], ['low', b.low, r.low], ['close', b.close, r.close], ['volume', b.volume, r.volume],
      ['source', b.source, r.source], ['quality', b.quality, r.quality], ['ingested_at', b.ingestTime, ms(r.ingested_at)],
      ['vwap', b.vwap, r.vwap], ['trades', b.trades, r.trades == null ? null : Number(r.trades)],
    ];
    const bad = cols.find(([, want, got]) => !same(want, got));
    return bad ? `${bad[0]} ${String(bad[2])}, the log's last record says ${String(bad[1])}` : null;
  });
}

/** market_events rows of the ids the events topic names (those `keep` says) against its newest-wins state (tombstones delete). */
export async function eventReferenceDiff(kafka: Kafka, config: Config, pool: Pool, topic: TopicDef<MarketEvent>,
  keep: (id: string) => boolean = () => true): Promise<ReferenceDiff> {
  const all = await lastPerKey(kafka, config, topic, (v) => v.id, (v) => validateMarketEvent(v, Date.now()), true);
  const expected = new Map([...all].filter(([id]) => keep(id)));
  const { rows } = await pool.query(
    'SELECT id, symbols, headline, summary, source, url, published_at, category FROM market_events WHERE id = ANY($1)', [[...expected.keys()]]);
  const stored = new Map(rows.map((r) => [r.id as string, r]));
  return compare(expected, stored, (e: MarketEvent, r: Record<string, unknown>) => {
    const cols: Array<[string, unknown, unknown]> = [
      ['symbols', e.symbols.join(','), (r.symbols as string[]).join(',')], ['headline', e.headline, r.headline], ['summary', e.summary, r.summary],
      ['source', e.source, r.source], ['url', e.url, r.url], ['published_at', e.publishedAt, ms(r.published_at)], ['category', e.category, r.category],
    ];
    const bad = cols.find(([, want, got]) => !same(want, got));
    return bad ? `${bad[0]} ${String(bad[2])}, the log's last record says ${String(bad[1])}` : null;
  });
}

export function addDiffs(...ds: ReferenceDiff[]): ReferenceDiff {
  return ds.reduce((a, d) => ({ differences: a.differences + d.differences, missing: a.missing + d.missing, extra: a.extra + d.extra,
    wrong: a.wrong + d.wrong, examples: [...a.examples, ...d.examples].slice(0, 3) }), { differences: 0, missing: 0, extra: 0, wrong: 0, examples: [] });
}
