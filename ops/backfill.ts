// Backfill: historical bars for a list of symbols over a window, from a source's history() (synthetic, yahoo) or a file,
// validated like the price producer's (no staleness: old bars are the point) and published to price-updates with
// source `backfill`, a few symbols at a time (bounded parallelism). Bars are keyed by (symbol, interval, start), so a
// second run republishes the same bars and the sinks' upserts and event-time guards leave the stores unchanged. With
// `spans` (backfill --gaps) a symbol's history is asked for those spans alone.
import { randomUUID } from 'node:crypto';
import Bottleneck from 'bottleneck';
import type { Config } from '../lib/config.ts';
import { standardHeaders } from '../lib/record-headers.ts';
import { ValidationError, errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import type { DeadLetter, Publisher } from '../lib/publisher.ts';
import { createFileSource, type FileConfig } from '../producers/sources/file.ts';
import { createPriceSource, type HistoryRange, type PriceFeed, type RejectedInput } from '../producers/sources/index.ts';
import { validatePriceUpdate } from '../topics/price-update.ts';
import type { PriceUpdate } from '../schemas/types.generated.ts';
import { priceUpdatesOf, type TopicDef } from '../topics/index.ts';
import type { BackfillInterval, HistorySourceName } from './backfill-range.ts';

/** What backfill needs from a source: the bars of one symbol over a window. */
export interface HistorySource {
  history(symbol: string, range: HistoryRange): Promise<PriceUpdate[]>;
  /** Inputs a file source could not parse (dead-lettered). */
  takeRejected?(): RejectedInput[];
  /** Symbols the source has, when it knows them (a file). */
  symbols?(): Promise<string[]>;
  close?(): Promise<void>;
}

export function createHistorySource(name: HistorySourceName,
  o: { config: Config; logger: Logger; file?: string; seed?: number; fileTimes?: Pick<FileConfig, 'epochUnit' | 'timeZone'> }): HistorySource {
  if (name === 'file') {
    if (!o.file) throw new ValidationError('the file source needs a file (--file <path>)');
    return fileHistory(o.file, o.fileTimes);
  }
  const config = name === 'synthetic' ? { seed: o.seed ?? o.config.SYNTHETIC_SEED, calendar: o.config.SYNTHETIC_CALENDAR } : {};
  const source: PriceFeed = createPriceSource(name, config, { logger: o.logger });
  const history = source.history?.bind(source);
  if (!history) throw new ValidationError(`source ${name} has no history`);
  return { history, close: () => source.close?.() ?? Promise.resolve() };
}

/** A CSV/JSONL file read once, indexed by symbol; history() filters by interval and window. */
function fileHistory(path: string, times: Pick<FileConfig, 'epochUnit' | 'timeZone'> = { epochUnit: 'ms' }): HistorySource {
  let loaded: Promise<Map<string, PriceUpdate[]>> | null = null;
  const rejected: RejectedInput[] = [];
  const load = () => loaded ??= (async () => {
    const file = createFileSource({ path, speed: 0, batchSize: 10_000, ...times });
    const bySymbol = new Map<string, PriceUpdate[]>();
    const now = Date.now();
    try {
      while (!file.exhausted()) {
        const bars = await file.fetch([], now);
        for (const bar of bars) (bySymbol.get(bar.symbol) ?? bySymbol.set(bar.symbol, []).get(bar.symbol)!).push(bar);
        rejected.push(...(file.takeRejected?.() ?? []));
        file.acknowledge(bars); // held in memory: the cursor may move on
      }
    } finally {
      await file.close?.();
    }
    return bySymbol;
  })();
  return {
    async history(symbol, range) {
      return ((await load()).get(symbol) ?? []).filter((b) => b.interval === range.interval && b.eventTime >= range.from && b.eventTime < range.to);
    },
    takeRejected() { return rejected.splice(0); },
    async symbols() { return [...(await load()).keys()].sort(); },
  };
}

export interface BackfillProgress {
  symbolsDone: number;
  symbols: number;
  published: number;
  invalid: number;
  failed: number;
}

export interface BackfillOptions {
  config: Config;
  logger: Logger;
  publisher: Publisher;
  source: HistorySource;
  symbols: readonly string[];
  from: number;
  to: number;
  interval: BackfillInterval;
  /**
   * Only these spans of event times per symbol (`backfill --gaps`: the windows of missing bars); a symbol without an
   * entry gets [from, to).
   */
  spans?: ReadonlyMap<string, ReadonlyArray<{ from: number; to: number }>>;
  /** Symbols fetched and published at once. */
  parallel: number;
  /** Default: price-updates as configured (PRICE_UPDATES_TOPIC). */
  topic?: TopicDef<PriceUpdate>;
  onProgress?(p: BackfillProgress): void;
}

export interface BackfillResult extends BackfillProgress {
  /** Symbols whose history could not be fetched or published, with the reason. */
  failures: Array<{ symbol: string; error: string }>;
  ms: number;
  correlationId: string;
}

export async function backfill(o: BackfillOptions): Promise<BackfillResult> {
  const topic = o.topic ?? priceUpdatesOf(o.config);
  const log = o.logger.child({ component: 'backfill', topic: topic.name });
  const correlationId = randomUUID();
  const started = Date.now();
  const p: BackfillProgress = { symbolsDone: 0, symbols: o.symbols.length, published: 0, invalid: 0, failed: 0 };
  const failures: BackfillResult['failures'] = [];
  const limiter = new Bottleneck({ maxConcurrent: o.parallel });
  const report = () => o.onProgress?.({ ...p });
  report();

  async function one(symbol: string): Promise<void> {
    try {
      const bars: PriceUpdate[] = [];
      for (const span of o.spans?.get(symbol) ?? [{ from: o.from, to: o.to }]) bars.push(...await o.source.history(symbol, { ...span, interval: o.interval }));
      const now = Date.now();
      const good: PriceUpdate[] = [];
      const dead: DeadLetter[] = [];
      for (const raw of bars) {
        const bar: PriceUpdate = { ...raw, source: 'backfill' };
        const reason = validatePriceUpdate(bar, now);
        if (reason) dead.push(deadLetter(bar.symbol, bar, reason, correlationId));
        else good.push(bar);
      }
      for (const r of o.source.takeRejected?.() ?? []) dead.push(deadLetter(r.symbol, r.raw, r.reason, correlationId));
      await o.publisher.send(topic, good, { source: 'backfill', correlationId });
      if (dead.length) await o.publisher.deadLetter(topic, dead);
      p.published += good.length;
      p.invalid += dead.length;
      log.debug({ symbol, bars: good.length, invalid: dead.length }, 'backfilled');
    } catch (err) {
      p.failed++;
      failures.push({ symbol, error: errorMessage(err) });
      log.warn({ symbol, err: errorMessage(err) }, 'backfill of a symbol failed; continuing with the others');
    } finally {
      p.symbolsDone++;
      report();
    }
  }

  try {
    await Promise.all(o.symbols.map((s) => limiter.schedule(() => one(s))));
  } finally {
    await limiter.disconnect();
  }
  return { ...p, failures, ms: Date.now() - started, correlationId };
}

function deadLetter(symbol: string | null, raw: unknown, reason: string, correlationId: string): DeadLetter {
  return {
    key: symbol, value: Buffer.from(JSON.stringify(raw)),
    headers: standardHeaders({ source: 'backfill', correlationId }), error: new ValidationError(reason),
  };
}

/** Symbols from a tickers file: one per line or comma-separated; blank lines and `#` comments ignored. */
export function parseTickers(text: string): string[] {
  return [...new Set(text.split(/\r?\n/).map((l) => l.replace(/#.*/, ''))
    .flatMap((l) => l.split(/[,\s]+/)).map((s) => s.trim().toUpperCase()).filter(Boolean))];
}
