// features: price-updates → technical indicators per (symbol, interval) (./indicators.ts, as TA-Lib defines them) →
// price-features, which postgres-sink (price_features) and redis-sink (features:{symbol}:{interval}) materialize.
//
// Exact under everything the log allows: the features of a bar depend only on the bars of its key before it in event
// time. Each key is a series (./series.ts): appends, provisional bars replaced, corrections and late bars inside the
// last FEATURES_HISTORY_BARS recomputed from there on, redeliveries ignored by version. Its state lives in PostgreSQL
// (./state.ts) and each batch is one transaction:
//   1. lock the batch's keys' rows (FOR UPDATE, key order) and compare their versions with the series held in memory;
//      a series whose row moved (another member took the key meanwhile: a rebalance, a scale-out) is reloaded;
//   2. apply the records, publish the features of every bar whose values changed, and wait for Kafka's acks;
//   3. write the series' changes and the versions, commit; the runner then commits the offsets.
// A crash before 3 leaves the state as it was: the batch is read again and publishes the same values again (stores keep
// one row per bar). A crash after 3 leaves the versions ahead of the group's commit: the records read again are
// skipped as already taken. A member that lost the partition waits at 1 for the new owner's transaction and then finds
// the versions moved; it never publishes from a state the new owner has gone past. Each feature record carries the
// version of the series it was computed from (`marketstream-source-version`), so a store orders two computations of
// one bar by what they saw, never by when they arrived.
//
// Ticks (interval `tick`) are quotes with the session's range, not bars: they have no features and are skipped.
import { randomUUID } from 'node:crypto';
import type { Config } from '../../lib/config.ts';
import { ConfigError, MarketstreamError, MemberFailedError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { processMetrics } from '../../lib/metrics.ts';
import type { Publisher, RecordMeta } from '../../lib/publisher.ts';
import { sourceVersionHeader } from '../../lib/record-headers.ts';
import { classifyPgError, createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { PriceFeatures, PriceUpdate } from '../../schemas/types.generated.ts';
import { priceFeaturesOf } from '../../topics/index.ts';
import { priceHandler } from '../price-handler.ts';
import { inTransaction } from '../postgres/transaction.ts';
import type { ReplayLoss, ResetScope, RetainedLog, Sink, SinkContext, SinkRecord, StoreCounts } from '../types.ts';
import { DEFAULT_PERIODS, type IndicatorPeriods, type IndicatorValues } from './indicators.ts';
import { emptyChanges, KeySeries, type SeriesChanges } from './series.ts';
import { keyOf, load, lock, prepareStage, save, type FeatureKey, type KeySave } from './state.ts';

/** The indicator periods the configuration sets (FEATURES_*_PERIOD, FEATURES_MACD_PERIODS, FEATURES_BOLLINGER_DEVIATIONS). */
export function periodsOf(config: Config): IndicatorPeriods {
  const [macdFast, macdSlow, macdSignal] = config.FEATURES_MACD_PERIODS;
  return {
    ...DEFAULT_PERIODS, sma: config.FEATURES_SMA_PERIOD, emaFast: config.FEATURES_EMA_FAST_PERIOD, emaSlow: config.FEATURES_EMA_SLOW_PERIOD,
    macdFast, macdSlow, macdSignal, rsi: config.FEATURES_RSI_PERIOD, bollinger: config.FEATURES_BOLLINGER_PERIOD,
    bollingerDeviations: config.FEATURES_BOLLINGER_DEVIATIONS, atr: config.FEATURES_ATR_PERIOD, realizedVolatility: config.FEATURES_VOLATILITY_PERIOD,
  };
}

/** The record's `definition`: the indicators and their periods, in TA-Lib's names. */
export function definitionOf(p: IndicatorPeriods): string {
  return `SMA(${p.sma}) EMA(${p.emaFast}) EMA(${p.emaSlow}) MACD(${p.macdFast},${p.macdSlow},${p.macdSignal}) RSI(${p.rsi}) ` +
    `BBANDS(${p.bollinger},${p.bollingerDeviations}) ATR(${p.atr}) STDDEV(LN(C/C[1]),${p.realizedVolatility}) VWAP(bar or UTC-day session)`;
}

const SOURCE = 'features';

function featuresRecord(key: FeatureKey, v: IndicatorValues, close: number, definition: string, computedAt: number): PriceFeatures {
  return {
    symbol: key.symbol, interval: key.interval, eventTime: v.time, bars: v.bars, close, definition,
    sma: v.sma, emaFast: v.emaFast, emaSlow: v.emaSlow, macd: v.macd, macdSignal: v.macdSignal, macdHistogram: v.macdHistogram, rsi: v.rsi,
    bollingerUpper: v.bollingerUpper, bollingerMiddle: v.bollingerMiddle, bollingerLower: v.bollingerLower, atr: v.atr, logReturn: v.logReturn,
    realizedVolatility: v.realizedVolatility, vwap: v.vwap, computedAt,
  };
}

export function createFeaturesSink(config: Config, ctx: SinkContext = {}): Sink {
  const logger = (ctx.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name: SOURCE })).child({ component: SOURCE });
  const periods = periodsOf(config);
  const definition = definitionOf(periods);
  const horizon = config.FEATURES_HISTORY_BARS;
  // The state is the group's: another group (another KAFKA_GROUP_PREFIX) on the same database has its own.
  const group = `${config.KAFKA_GROUP_PREFIX}.${SOURCE}`;
  const output = ctx.topics?.features ?? priceFeaturesOf(config);
  const metrics = processMetrics();
  let pool: Pool | undefined;
  const db = () => pool ?? (pool = createPgPool(config, { max: config.FEATURES_POOL_SIZE, applicationName: 'marketstream-features' }));
  // The series this member computed, by key; trusted only while the store's version says nobody else moved them.
  const held = new Map<string, KeySeries>();
  let heldBars = 0;
  const reportState = () => metrics.featuresState(held.size, heldBars);

  const publisher = (): Publisher => {
    if (!ctx.publisher) {
      throw new MarketstreamError('NO_PUBLISHER', 'the features group needs the runner\'s publisher (SinkContext.publisher) to publish price-features',
        { retriable: false });
    }
    return ctx.publisher;
  };

  async function writeBatch(records: readonly SinkRecord<PriceUpdate>[]): Promise<void> {
    const byKey = new Map<string, { key: FeatureKey; records: SinkRecord<PriceUpdate>[] }>();
    for (const r of records) {
      if (!r.value || r.value.interval === 'tick') continue;
      const key = { symbol: r.value.symbol, interval: r.value.interval };
      const k = keyOf(key);
      const entry = byKey.get(k) ?? byKey.set(k, { key, records: [] }).get(k)!;
      entry.records.push(r);
    }
    if (byKey.size === 0) return;
    const partition = records[0]!.partition ?? 0;
    const computedAt = Date.now();
    const out = publisher();
    try {
      await inTransaction(db(), async (client) => {
        const locked = await lock(client, group, [...byKey.values()].map((e) => e.key));
        const saves: KeySave[] = [];
        const values: PriceFeatures[] = [];
        const meta: RecordMeta[] = [];
        const computed = new Map<string, number>();
        const recomputed = new Map<string, number>();
        for (const [k, { key, records: rs }] of byKey) {
          const row = locked.get(k)!;
          if (row.definition !== null && row.definition !== definition) throw definitionChanged(row.definition, definition);
          let series = held.get(k);
          const fresh = !series || series.version !== row.version;
          if (fresh) {
            const snapshot = row.version >= 0 ? await load(client, group, key) : null;
            series = new KeySeries(periods, horizon, snapshot ?? undefined);
          }
          const changes: SeriesChanges = emptyChanges();
          for (const r of rs) {
            const v = r.value!;
            series!.apply({ time: v.eventTime, open: v.open, high: v.high, low: v.low, close: v.close, volume: v.volume, vwap: v.vwap ?? null },
              r.version ?? Number(r.offset ?? -1), changes);
          }
          if (series!.version === row.version && changes.values.size === 0) { held.set(k, series!); continue; }
          // The Kafka timestamp of the newest record of the key: so a store's end-to-end latency of price-features is the
          // time from the bar's publication to its features being visible, and a rebuild's records age with their bars.
          const record = { headers: sourceVersionHeader(partition, series!.version), timestamp: rs.at(-1)!.timestamp };
          for (const [, v] of [...changes.values].sort((a, b) => a[0] - b[0])) {
            values.push(featuresRecord(key, v.values, v.close, definition, computedAt));
            meta.push(record);
          }
          computed.set(key.interval, (computed.get(key.interval) ?? 0) + changes.values.size);
          recomputed.set(key.interval, (recomputed.get(key.interval) ?? 0) + changes.recomputed);
          saves.push({
            key, version: series!.version, partition, definition, changes,
            base: changes.foldedThrough !== null || row.version < 0 ? series!.snapshot().base : null,
          });
          held.set(k, series!);
        }
        // The features go out while the state is written: the commit below waits for both, so the state never
        // records a batch whose features Kafka has not acknowledged.
        const settled = await Promise.allSettled([
          values.length > 0 ? out.send(output, values, { source: SOURCE, correlationId: randomUUID(), records: meta }) : undefined,
          saves.length > 0 ? save(client, group, saves) : undefined,
        ]);
        for (const r of settled) if (r.status === 'rejected') throw r.reason;
        for (const [interval, n] of computed) metrics.featuresComputed(interval, n, recomputed.get(interval) ?? 0);
      }, prepareStage);
    } catch (err) {
      // What this batch did to the series in memory is not in the store: they are reloaded next time.
      for (const k of byKey.keys()) held.delete(k);
      throw err instanceof MarketstreamError ? err : classifyPgError(err);
    } finally {
      heldBars = 0;
      for (const s of held.values()) heldBars += s.size;
      reportState();
    }
  }

  const base = priceHandler(ctx.topics?.prices, writeBatch);
  // Its data age is that of the bars it holds: ticks are skipped.
  const prices: typeof base = { ...base, barOf: (v) => (v.interval === 'tick' ? null : base.barOf!(v)) };
  return {
    name: 'features',
    handlers: [prices],
    async connect() {
      await migrate(db()).catch((err) => { throw classifyPgError(err); });
      const other = await db().query<{ definition: string }>(
        'SELECT definition FROM feature_state WHERE group_id = $2 AND definition IS DISTINCT FROM $1 AND definition IS NOT NULL LIMIT 1', [definition, group])
        .catch((err) => { throw classifyPgError(err); });
      if (other.rows[0]) throw new ConfigError(definitionChanged(other.rows[0].definition, definition).message);
    },
    async ping() { await db().query('SELECT 1'); },
    async close() { await pool?.end(); pool = undefined; held.clear(); },
    async reset(scope?: ResetScope) {
      held.clear();
      const { where, params } = scoped(group, scope);
      await inTransaction(db(), async (client) => {
        await client.query(`DELETE FROM feature_bars ${where}`, params);
        await client.query(`DELETE FROM feature_state ${where}`, params);
      }).catch((err) => { throw classifyPgError(err); });
    },
    async counts(scope?: ResetScope): Promise<StoreCounts> {
      const { where, params } = scoped(group, scope);
      const count = async (table: string) => Number((await db().query(`SELECT count(*) FROM ${table} ${where}`, params)).rows[0].count);
      return { 'feature_state series': await count('feature_state'), 'feature_bars rows': await count('feature_bars') };
    },
    // Retention removed the oldest bars of some partitions: a rebuild computes those series from a later first bar, so
    // their seeded indicators (the EMAs, MACD, RSI, ATR) and their bar counts differ from what the live run published.
    async replayLoss(log: RetainedLog, scope?: ResetScope): Promise<ReplayLoss[]> {
      const truncated = new Set(log.truncated(prices.topic.name).map((t) => t.partition));
      if (truncated.size === 0) return [];
      const { where, params } = scoped(group, scope);
      const rows = (await db().query<{ symbol: string; n: string }>(`SELECT symbol, count(*) AS n FROM feature_state ${where} GROUP BY symbol`, params)).rows;
      const hit = rows.filter((r) => truncated.has(log.partitionOf(prices.topic.name, r.symbol)));
      const count = hit.reduce((n, r) => n + Number(r.n), 0);
      return count === 0 ? [] : [{
        what: 'feature series recomputed from a later first bar (their EMAs, MACD, RSI, ATR and bar counts change)', count,
        topic: prices.topic.name, detail: `of ${hit.length} symbols`,
      }];
    },
  };
}

/** The group's rows, of some symbols when the scope says so. */
function scoped(group: string, scope?: ResetScope): { where: string; params: unknown[] } {
  return scope?.symbols
    ? { where: 'WHERE group_id = $1 AND symbol = ANY($2)', params: [group, scope.symbols] }
    : { where: 'WHERE group_id = $1', params: [group] };
}

function definitionChanged(stored: string, configured: string): MemberFailedError {
  return new MemberFailedError(`the features state was computed as ${stored}, and the configuration (FEATURES_*_PERIOD, FEATURES_MACD_PERIODS, ` +
    `FEATURES_BOLLINGER_DEVIATIONS) now says ${configured}: run \`marketstream rebuild features\` to recompute every bar with the new periods`);
}
