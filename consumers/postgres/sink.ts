// postgres-sink: price-updates → price_data, each batch COPYed into a staging table and merged (./prices.ts);
// market-events → market_events (./market-events.ts). Reset and counts for rebuild: ./store.ts.
// Newest wins: a row keeps the version of the record that wrote it; an older or equal one (a stale writer, a replay) is
// refused and counted as stale.
import type { Config } from '../../lib/config.ts';
import { classifyPgError, createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext, SinkRecord } from '../types.ts';
import { marketEventsHandler } from './market-events.ts';
import { newestPerBar, upsertPrices } from './prices.ts';
import { countPostgres, replayLossPostgres, resetPostgres } from './store.ts';

/** Options come from configuration: POSTGRES_URL, POSTGRES_SINK_POOL_SIZE. */
export function createPostgresSink(config: Config, ctx: SinkContext = {}): Sink {
  let pool: Pool | undefined;
  const db = () => pool ?? (pool = createPgPool(config, { max: config.POSTGRES_SINK_POOL_SIZE, applicationName: 'marketstream-postgres-sink' }));

  const prices = priceHandler(ctx.topics?.prices, async (records: readonly SinkRecord<PriceUpdate>[]) => {
    const { kept, stale } = newestPerBar(records);
    const written = await upsertPrices(db(), kept.map((r) => r.value!), kept.map((r) => r.version ?? null))
      .catch((err) => { throw classifyPgError(err); });
    return { stale: stale + (written.stale ?? 0) };
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
