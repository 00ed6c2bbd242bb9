// postgres-sink: price-updates → price_data, each batch COPYed into a staging table and merged (./prices.ts);
// market-events → market_events (./market-events.ts). Reset and counts for rebuild: ./store.ts.
// Idempotent: a replayed record finds an identical row and the merge's WHERE clause skips the update.
import type { Config } from '../../lib/config.ts';
import { classifyPgError, createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext, SinkRecord } from '../types.ts';
import { marketEventsHandler } from './market-events.ts';
import { lastPerBar, upsertPrices } from './prices.ts';
import { countPostgres, replayLossPostgres, resetPostgres } from './store.ts';

/** Options come from configuration: POSTGRES_URL, POSTGRES_SINK_POOL_SIZE. */
export function createPostgresSink(config: Config, ctx: SinkContext = {}): Sink {
  let pool: Pool | undefined;
  const db = () => pool ?? (pool = createPgPool(config, { max: config.POSTGRES_SINK_POOL_SIZE, applicationName: 'marketstream-postgres-sink' }));

  const prices = priceHandler(ctx.topics?.prices, async (records: readonly SinkRecord<PriceUpdate>[]) => {
    const rows = lastPerBar(records.map((r) => r.value!));
    await upsertPrices(db(), rows).catch((err) => { throw classifyPgError(err); });
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
