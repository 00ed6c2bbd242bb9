// At a restart, the last bar a price source published per symbol, read back from the topic: a source that can
// regenerate its series (synthetic, deterministic from its seed) then fills the hole the restart left instead of
// starting at the latest bar. Kafka is the record of what was published, so nothing is kept on disk; the read is
// bounded by the source's catch-up window (records stamped since `since`), with lib/records' throwaway reader.
import type { Kafka } from 'kafkajs';
import { readLog, throwawayGroup, topicRanges } from '../lib/records.ts';
import type { Serde } from '../lib/serde.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import type { TopicDef } from '../topics/index.ts';
import type { PriceInterval } from '../topics/price-update.ts';

export interface LastPublishedQuery {
  symbols: readonly string[];
  interval: PriceInterval;
  /** Record sources that count as published by this producer (its own name, and `backfill` for regenerated holes). */
  sources: readonly PriceUpdate['source'][];
  /** Only records Kafka stamped at or after this (epoch ms): a bar is published after it starts, so none is missed. */
  since: number;
  /** Also give back the bars themselves (the last record of each bar): a source that republishes changed bars compares them. */
  values?: boolean;
}

export interface LastPublished {
  last: Map<string, number>;
  /** With `values`: per symbol, the last record of each bar found, in event-time order. */
  bars?: Map<string, PriceUpdate[]>;
  complete: boolean;
}

/**
 * The newest event time per symbol among the matching records of `topic` (absent: none), and with `values` the bars;
 * complete false after a timeout. A symbol's records all sit in one partition (key = symbol), read in offset order, so
 * the later record of a bar is its last revision.
 */
export async function lastPublishedBars(
  o: { kafka: Kafka; serde: Serde; topic: TopicDef<PriceUpdate>; groupPrefix: string; timeoutMs?: number }, q: LastPublishedQuery,
): Promise<LastPublished> {
  const admin = o.kafka.admin();
  await admin.connect();
  const ranges = await topicRanges(admin, o.topic.name, { from: { time: q.since } }).finally(() => admin.disconnect());
  const wanted = new Set(q.symbols);
  const out = new Map<string, number>();
  const bars = new Map<string, Map<number, PriceUpdate>>();
  const { ended } = await readLog(o.kafka, {
    ranges, group: throwawayGroup(o.groupPrefix, 'price-resume'), timeoutMs: o.timeoutMs ?? 60_000,
    onRecord: async (m) => {
      const symbol = m.key?.toString();
      if (!symbol || !wanted.has(symbol) || !m.value) return;
      let value: PriceUpdate;
      try { value = (await o.serde.decode(o.topic, m.value)).value; } catch { return; } // not a bar of ours: the sinks dead-letter it
      if (value.interval !== q.interval || !q.sources.includes(value.source)) return;
      if (value.eventTime > (out.get(symbol) ?? -Infinity)) out.set(symbol, value.eventTime);
      if (q.values) {
        let of = bars.get(symbol);
        if (!of) bars.set(symbol, of = new Map());
        of.set(value.eventTime, value);
      }
    },
  });
  const sorted = q.values
    ? { bars: new Map([...bars].map(([s, m]) => [s, [...m.values()].sort((a, b) => a.eventTime - b.eventTime)])) }
    : {};
  return { last: out, ...sorted, complete: ended === 'end' };
}
