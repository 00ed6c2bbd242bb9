// Which fields of each contract each sink keeps, and where: what `marketstream schema check` reads to say what a
// change means for the stores (a PostgreSQL column to add, a field a sink ignores). A unit test keeps it in step with
// the .avsc files: every field of a contract is named here by at least one sink.
import { FEATURE_VALUES } from '../topics/price-features.ts';
import { FEATURE_COLUMNS } from './postgres/features.ts';
import { PRICE_COLUMNS } from './postgres/price-columns.ts';

export interface SinkFields {
  /** The consumer group's component: postgres-sink, redis-sink, neo4j-sink, enricher. */
  readonly sink: string;
  /** Where the fields land, in words: a table, a Redis key, a graph node. */
  readonly where: string;
  /** PostgreSQL table a new field of the contract would become a column of (absent: the sink has no table for it). */
  readonly table?: string;
  /** Contract field → the column, hash field or property holding it. */
  readonly fields: Readonly<Record<string, string>>;
}

/** By schema file name (schemas/<file>). */
export const storedFields: Readonly<Record<string, readonly SinkFields[]>> = {
  'price-update.avsc': [
    {
      sink: 'postgres-sink', where: 'table price_data', table: 'price_data',
      fields: Object.fromEntries(PRICE_COLUMNS.map((c) => [c.field, c.name])),
    },
    {
      sink: 'redis-sink', where: 'hash price:{symbol}:latest',
      fields: {
        symbol: '(key)', interval: 'interval', eventTime: 'ts', open: 'open', high: 'high', low: 'low', close: 'close', volume: 'volume',
        source: 'source', vwap: 'vwap', trades: 'trades',
      },
    },
    {
      sink: 'neo4j-sink', where: '(:Company:Stock) node',
      fields: { symbol: 'symbol', close: 'last_price', eventTime: 'last_updated', vwap: 'last_vwap', trades: 'last_trades' },
    },
  ],
  'market-event.avsc': [
    {
      sink: 'postgres-sink', where: 'table market_events', table: 'market_events',
      fields: {
        id: 'id', symbols: 'symbols', headline: 'headline', summary: 'summary', source: 'source', url: 'url',
        publishedAt: 'published_at', category: 'category', ingestTime: 'ingested_at',
      },
    },
    {
      sink: 'enricher', where: 'the classification prompt and the MarketEvent node',
      fields: { id: 'id', symbols: 'symbols', headline: 'headline', summary: 'summary', source: 'source', url: 'url', publishedAt: 'published_at' },
    },
  ],
  'price-features.avsc': [
    {
      sink: 'postgres-sink', where: 'table price_features', table: 'price_features',
      fields: Object.fromEntries(FEATURE_COLUMNS.map((c) => [c.field, c.name])),
    },
    {
      sink: 'redis-sink', where: 'hash features:{symbol}:{interval} (and its :history)',
      fields: {
        symbol: '(key)', interval: 'interval', eventTime: 'ts', bars: 'bars', close: 'close', definition: 'definition', computedAt: 'computedAt',
        ...Object.fromEntries(FEATURE_VALUES.map((f) => [f, f])),
      },
    },
  ],
  'graph-mutation.avsc': [
    {
      sink: 'neo4j-sink', where: 'the company graph (nodes and relationships)',
      fields: { mutationTime: 'updated time', origin: 'provenance', op: 'the node or relationship', enrichment: 'provenance of enriched facts' },
    },
  ],
};
