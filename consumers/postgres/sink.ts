// postgres-sink: price-updates → price_data, each batch COPYed into a staging table and merged (./prices.ts, through
// ./copy-merge.ts); market-events → market_events (./market-events.ts); price-features → price_features (./features.ts,
// the same COPY-staging-merge). Reset and counts for rebuild: ./store.ts.
// Newest wins: a row keeps the version of the record that wrote it; an older one (a stale writer) is refused and counted
// as stale, and so is an equal one (a replay) except in price_features, where an equal version overwrites.
import type { Config } from '../../lib/config.ts';
import { classifyPgError, createPgPool, migrate, type Pool } from '../../lib/stores/postgres.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext } from '../types.ts';
import { writeNewestBars } from './copy-merge.ts';
import { priceFeaturesHandler } from './features.ts';
import { marketEventsHandler } from './market-events.ts';
import { upsertPrices } from './prices.ts';
import { countPostgres, replayLossPostgres, resetPostgres } from './store.ts';

/** Options come from configuration: POSTGRES_URL, POSTGRES_SINK_POOL_SIZE. */
export function createPostgresSink(config: Config, ctx: SinkContext = {}): Sink {
  let pool: Pool | undefined;
  const db = () => pool ?? (pool = createPgPool(config, { max: config.POSTGRES_SINK_POOL_SIZE, applicationName: 'marketstream-postgres-sink' }));

  const prices = priceHandler(ctx.topics?.prices, (records) => writeNewestBars(db(), upsertPrices, records, undefined, true));

  const events = marketEventsHandler(ctx.topics?.events, db);
  const features = priceFeaturesHandler(ctx.topics?.features, db);
  return {
    name: 'postgres-sink',
    handlers: [prices, events, features],
    async connect() { await migrate(db()).catch((err) => { throw classifyPgError(err); }); },
    async ping() { await db().query('SELECT 1'); },
    async close() { await pool?.end(); pool = undefined; },
    async reset(scope) { await resetPostgres(db(), scope); },
    counts: (scope) => countPostgres(db(), scope),
    replayLoss: (log, scope) => replayLossPostgres(db(), log, { prices: prices.topic, events: events.topic, features: features.topic }, scope),
  };
}
