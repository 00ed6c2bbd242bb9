// neo4j-sink: price-updates → (:Company:Stock {symbol}) with last_price, last_vwap, last_trades and last_updated, moved only
// forward by (event time, version): `last_price_version` holds the version of the bar that set them (SinkRecord.version),
// so of two bars with the same event time the later record wins, and a stale writer's older bar is refused (counted);
// graph-mutations → the company graph (./graph-mutations.ts). Reset and counts for rebuild: ./store.ts.
// One UNWIND … MERGE per batch (the newest bar per symbol), parameters only; the uniqueness constraints are created at start.
import type { Config } from '../../lib/config.ts';
import { neo4jDatabase } from '../../lib/config.ts';
import { classifyNeo4jError, createNeo4jDriver, ensureConstraints, type Driver } from '../../lib/stores/neo4j.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceHandler } from '../price-handler.ts';
import type { Sink, SinkContext, SinkRecord } from '../types.ts';
import { createGraphMutationsHandler } from './graph-mutations.ts';
import { countNeo4j, replayLossNeo4j, resetNeo4j } from './store.ts';

const UPDATE_LAST_PRICE = `
UNWIND $rows AS r
MERGE (c:Company {symbol: r.symbol})
ON CREATE SET c:Stock
WITH c, r, datetime({epochMillis: toInteger(r.ts)}) AS ts
WHERE c.last_updated IS NULL OR c.last_updated < ts
  OR (c.last_updated = ts AND (r.version IS NULL OR c.last_price_version IS NULL OR c.last_price_version < r.version))
SET c:Stock, c.last_price = r.close, c.last_updated = ts, c.last_vwap = r.vwap, c.last_trades = toInteger(r.trades),
  c.last_price_version = r.version
RETURN count(*) AS applied`;

/** Whether bar `a` (event time, version) is at least as new as `b` (no version: the later record). */
const atLeastAsNew = (a: SinkRecord<PriceUpdate>, b: SinkRecord<PriceUpdate>) =>
  a.value!.eventTime > b.value!.eventTime || (a.value!.eventTime === b.value!.eventTime && (a.version ?? 0) >= (b.version ?? 0));

/** Options come from configuration: NEO4J_URL, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE. */
export function createNeo4jSink(config: Config, ctx: SinkContext = {}): Sink {
  const database = neo4jDatabase(config);
  let driver: Driver | undefined;
  const db = () => driver ?? (driver = createNeo4jDriver(config));

  const prices = priceHandler(ctx.topics?.prices, async (records) => {
    const newest = new Map<string, SinkRecord<PriceUpdate>>();
    for (const r of records) {
      const seen = newest.get(r.value!.symbol);
      if (!seen || atLeastAsNew(r, seen)) newest.set(r.value!.symbol, r);
    }
    // vwap, trades (price-update version 2): null removes the property, so a bar without them leaves none behind.
    const rows = [...newest.values()].map(({ value: v, version }) => ({
      symbol: v!.symbol, close: v!.close, ts: v!.eventTime, vwap: v!.vwap ?? null, trades: v!.trades ?? null, version: version ?? null,
    }));
    const { records: out } = await db().executeQuery(UPDATE_LAST_PRICE, { rows }, { database }).catch((err) => { throw classifyNeo4jError(err); });
    return { stale: rows.length - Number(out[0]?.get('applied') ?? 0) };
  });

  const mutations = createGraphMutationsHandler({ db, database, topic: ctx.topics?.mutations });
  return {
    name: 'neo4j-sink',
    handlers: [prices, mutations],
    async connect() { await ensureConstraints(db(), database).catch((err) => { throw classifyNeo4jError(err); }); },
    async ping() { await db().executeQuery('RETURN 1', {}, { database }); },
    async close() { await driver?.close(); driver = undefined; },
    async reset(scope) { await resetNeo4j(db(), scope, database); },
    counts: (scope) => countNeo4j(db(), scope, database),
    replayLoss: (log, scope) => replayLossNeo4j(db(), database, log, { prices: prices.topic, mutations: mutations.topic }, scope),
  };
}
