// What the features group's integration tests share: bars as price-updates records, the features a group published
// (the last computation of each bar, by the version it carries), a group's catch-up, and the reference every live run
// must equal: one plain IndicatorState run over each key's final bars in event time.
import type { Admin, Kafka } from 'kafkajs';
import { DEFAULT_PERIODS, IndicatorState, type IndicatorValues } from '../../../consumers/features/indicators.ts';
import { sourceVersionOf } from '../../../lib/record-headers.ts';
import type { Serde } from '../../../lib/serde.ts';
import type { PriceFeatures, PriceUpdate } from '../../../schemas/types.generated.ts';
import type { TopicDef } from '../../../topics/index.ts';
import { committedOffsets, readTopic, waitFor } from '../../helpers/index.ts';

export type Bar = Pick<PriceUpdate, 'eventTime' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'vwap'>;

export function priceRecord(symbol: string, b: Bar): PriceUpdate {
  return { symbol, interval: '1m', ...b, vwap: b.vwap ?? null, source: 'file', ingestTime: b.eventTime + 60_000, quality: 1, trades: null };
}

/** Bars of the TA-Lib fixture's series `name`. */
export function fixtureBars(fixture: { bars: Record<string, (number | null)[]> }): Bar[] {
  const c = fixture.bars as Record<'time' | 'open' | 'high' | 'low' | 'close' | 'volume', number[]> & { vwap: (number | null)[] };
  return c.time.map((t, i) => ({
    eventTime: t, open: c.open[i]!, high: c.high[i]!, low: c.low[i]!, close: c.close[i]!, volume: c.volume[i]!, vwap: c.vwap[i] ?? null,
  }));
}

/** symbol|eventTime → the features of that bar a group published last (highest source version, then offset). */
export async function publishedFeatures(kafka: Kafka, serde: Serde, topic: TopicDef<PriceFeatures>, symbols: readonly string[],
  until?: (latest: Map<string, PriceFeatures>) => boolean): Promise<Map<string, PriceFeatures>> {
  const decode = async (messages: Awaited<ReturnType<typeof readTopic>>) => {
    const best = new Map<string, { version: number; offset: number; f: PriceFeatures }>();
    for (const m of messages) {
      const f = (await serde.decode(topic, m.value!)).value;
      if (!symbols.includes(f.symbol)) continue;
      const k = `${f.symbol}|${f.eventTime}`;
      const version = sourceVersionOf(m.headers) ?? -1;
      const seen = best.get(k);
      const newer = !seen || version > seen.version || (version === seen.version && Number(m.offset) > seen.offset);
      if (newer) best.set(k, { version, offset: Number(m.offset), f });
    }
    return new Map([...best].map(([k, v]) => [k, v.f]));
  };
  let latest = new Map<string, PriceFeatures>();
  await waitFor(async () => {
    latest = await decode(await readTopic(kafka, topic.name));
    return !until || until(latest);
  }, { timeoutMs: 90_000, what: `the features on ${topic.name}` });
  return latest;
}

/** Waits until `groupId` committed every partition of `topic` to its end. */
export async function caughtUp(admin: Admin, groupId: string, topic: string, timeoutMs = 90_000): Promise<void> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await waitFor(async () => {
    const c = await committedOffsets(admin, groupId, topic);
    return [...ends].every(([p, end]) => end === 0n || c.get(p) === end);
  }, { timeoutMs, what: `${groupId} committed ${topic} to its end` });
}

/** The reference: symbol|eventTime → values of one plain run over each symbol's final bars (the last record of each bar). */
export function reference(records: readonly PriceUpdate[]): Map<string, IndicatorValues> {
  const finalBars = new Map<string, Map<number, PriceUpdate>>();
  for (const r of records) {
    const bars = finalBars.get(r.symbol) ?? finalBars.set(r.symbol, new Map()).get(r.symbol)!;
    bars.set(r.eventTime, r);
  }
  const out = new Map<string, IndicatorValues>();
  for (const [symbol, bars] of finalBars) {
    const state = new IndicatorState(DEFAULT_PERIODS);
    for (const b of [...bars.values()].sort((x, y) => x.eventTime - y.eventTime)) {
      const bar = { time: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, vwap: b.vwap ?? null };
      out.set(`${symbol}|${b.eventTime}`, state.add(bar));
    }
  }
  return out;
}

const VALUES = ['bars', 'sma', 'emaFast', 'emaSlow', 'macd', 'macdSignal', 'macdHistogram', 'rsi', 'bollingerUpper', 'bollingerMiddle', 'bollingerLower',
  'atr', 'logReturn', 'realizedVolatility', 'vwap'] as const;

/** The values of a features record, comparable across runs (computedAt, when it was computed, left out). */
export function valuesOf(f: PriceFeatures): Record<string, unknown> {
  return Object.fromEntries([['close', f.close], ...VALUES.map((k) => [k, f[k] === null ? null : Number(f[k])])]);
}

/** Where `published` differs from the reference values: `key field: got vs want`, at most 10. */
export function differences(published: Map<string, PriceFeatures>, want: Map<string, IndicatorValues>): string[] {
  const out: string[] = [];
  if (published.size !== want.size) out.push(`${published.size} bars published, ${want.size} expected`);
  for (const [k, w] of want) {
    const f = published.get(k);
    if (!f) { out.push(`${k}: not published`); continue; }
    for (const field of VALUES) {
      const got = f[field] === null ? null : Number(f[field]);
      const exp = w[field];
      if (got === null || exp === null ? got !== exp : got !== exp) out.push(`${k} ${field}: ${got} vs ${exp}`);
    }
  }
  return out.slice(0, 10);
}
