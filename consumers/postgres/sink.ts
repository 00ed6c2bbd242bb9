// postgres-sink: price-updates → price_data, one multi-row upsert per batch (a single round trip).
// market-events → market_events (./market-events.ts). Reset and counts for rebuild: ./store.ts.
// Idempotent: a replayed record finds an identical row and the WHERE clause skips the update.
import { z } from 'zod';
import type { Config } from '../../lib/config.ts';
import { classifyPgError } from '../../lib/errors.ts';
import { createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext, SinkRecord } from '../types.ts';
import { marketEventsHandler } from './market-events.ts';
import { countPostgres, replayLossPostgres, resetPostgres } from './store.ts';

export const postgresSinkSpec = z.object({
  poolSize: z.number().int().min(1).default(8).describe('Connections; one batch uses one'),
});

const UPSERT_PRICES = `
INSERT INTO price_data AS p (symbol, interval, ts, open, high, low, close, volume, source, quality, ingested_at)
SELECT s, i, to_timestamp(t / 1000.0), o, h, l, c, v, src, q, to_timestamp(ing / 1000.0)
FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::float8[], $11::float8[])
  AS u(s, i, t, o, h, l, c, v, src, q, ing)
ON CONFLICT (symbol, interval, ts) DO UPDATE SET
  open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
  source = EXCLUDED.source, quality = EXCLUDED.quality, ingested_at = EXCLUDED.ingested_at
WHERE (p.open, p.high, p.low, p.close, p.volume, p.source, p.quality, p.ingested_at)
  IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume, EXCLUDED.source, EXCLUDED.quality, EXCLUDED.ingested_at)`;

export function createPostgresSink(config: Config, ctx: SinkContext = {}, opts: z.input<typeof postgresSinkSpec> = {}): Sink {
  const { poolSize } = postgresSinkSpec.parse(opts);
  let pool: Pool | undefined;
  const db = () => pool ?? (pool = createPgPool(config, { max: poolSize, applicationName: 'marketstream-postgres-sink' }));

  const prices = priceHandler(ctx.topics?.prices, async (records: readonly SinkRecord<PriceUpdate>[]) => {
    // One row per key: ON CONFLICT cannot touch a row twice in one statement; the later record (offset order) wins.
    const rows = [...new Map(records.map((r) => [`${r.value!.symbol}|${r.value!.interval}|${r.value!.eventTime}`, r.value!])).values()];
    const col = <K extends keyof PriceUpdate>(k: K) => rows.map((r) => r[k]);
    await db().query(UPSERT_PRICES, [col('symbol'), col('interval'), col('eventTime'), col('open'), col('high'), col('low'),
      col('close'), col('volume'), col('source'), col('quality'), col('ingestTime')]).catch((err) => { throw classifyPgError(err); });
  });

  const events = marketEventsHandler(ctx.topics?.events, db);
  return {
    name: 'postgres-sink',
    handlers: [prices, events],
    async connect() { await migrate(db()).catch((err) => { throw classifyPgError(err); }); },
    async ping() { await db().query('SELECT 1'); },
    async close() { await pool?.end(); pool = undefined; },
    async reset(scope) { await resetPostgres(db(), scope); },
    counts: (scope) => countPostgres(db(), scope),
    replayLoss: (log, scope) => replayLossPostgres(db(), log, { prices: prices.topic, events: events.topic }, scope),
  };
}
