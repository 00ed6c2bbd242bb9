// What the demo's live view shows, read while the pipeline runs: per topic the records this process published, per
// consumer group its lag and the records it wrote (all from the process's prom-client registry, lib/metrics.ts), per
// store its rows, keys, nodes and relationships (cheap queries, at most every STORE_REFRESH_MS, each bounded by a
// timeout), and Claude's calls and cost (metrics) or the rule-based classifier.
import { neo4jDatabase, type Config } from '../../lib/config.ts';
import type { Metrics } from '../../lib/metrics.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import { groupIdOf, sinkNames, sinks } from '../../consumers/catalog.ts';
import { configuredTopics } from '../../topics/index.ts';

export interface DemoStats {
  elapsedS: number;
  topics: { topic: string; published: number }[];
  /** lagSeconds: the age of the oldest record the group has not consumed (0 caught up; null not known yet). */
  groups: { sink: string; group: string; lag: number | null; lagSeconds: number | null; written: number; consumed: number }[];
  /**
   * The price source answering: the chain's active member (marketstream_source_active), else the sources that fetched;
   * with their fetches and errors.
   */
  priceSource: { active: string[]; fetches: number; errors: number };
  /** Per store, the oldest of its symbols' newest bars (seconds since that bar ended), from the sinks' writes. */
  freshness: { store: string; ageSeconds: number; symbol: string; interval: string }[];
  /** null: not read yet, or the store did not answer. */
  stores: {
    postgres: { priceRows: number; events: number; classified: number } | null;
    redis: { price: number; bars: number } | null;
    neo4j: { nodes: number; relationships: number } | null;
    /** The latest features of each demo symbol (PostgreSQL price_features, the newest bar of any interval). */
    features: FeaturesLine[] | null;
  };
  claude: { enabled: boolean; model: string; calls: number; costUsd: number; inputTokens: number; outputTokens: number };
}

export interface FeaturesLine { symbol: string; interval: string; bars: number; rsi: number | null; macd: number | null; sma: number | null }

export interface StatsReader {
  read(): Promise<DemoStats>;
  /** Reads the stores now (the final frame). */
  refreshStores(): Promise<void>;
  close(): Promise<void>;
}

export const STORE_REFRESH_MS = 2000;
const STORE_TIMEOUT_MS = 1500;

export function createStatsReader(o: { config: Config; metrics: Metrics; symbols: readonly string[] }): StatsReader {
  const { config, metrics, symbols } = o;
  const startedAt = Date.now();
  const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-demo-view' });
  pool.on('error', () => {}); // an idle client's error: the next query reports it
  const redis = createRedis(config);
  const neo4j = createNeo4jDriver(config);
  const stores: DemoStats['stores'] = { postgres: null, redis: null, neo4j: null, features: null };
  let storesAt = 0;
  let reading: Promise<void> | null = null;
  let closed = false;

  const readPostgres = async () => {
    const [prices, events] = await Promise.all([
      pool.query<{ n: string }>('SELECT count(*) AS n FROM price_data WHERE symbol = ANY($1)', [symbols]),
      pool.query<{ n: string; classified: string }>('SELECT count(*) AS n, count(classifier) AS classified FROM market_events'),
    ]);
    stores.postgres = {
      priceRows: Number(prices.rows[0]?.n ?? 0), events: Number(events.rows[0]?.n ?? 0), classified: Number(events.rows[0]?.classified ?? 0),
    };
    stores.features = await latestFeatures(pool, symbols);
  };
  const readRedis = async () => {
    if (redis.status === 'wait') await redis.connect();
    const wanted = new Set(symbols);
    const count = async (pattern: string) => {
      let n = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        for (const k of keys) if (wanted.has(k.split(':')[1] ?? '')) n++;
      } while (cursor !== '0');
      return n;
    };
    const [price, bars] = await Promise.all([count('price:*'), count('bars:*')]);
    stores.redis = { price, bars };
  };
  const readNeo4j = async () => {
    const r = await neo4j.executeQuery('RETURN COUNT { MATCH (n) } AS nodes, COUNT { MATCH ()-[r]->() } AS relationships', {},
      { database: neo4jDatabase(config) });
    const rec = r.records[0];
    stores.neo4j = { nodes: Number(rec?.get('nodes') ?? 0), relationships: Number(rec?.get('relationships') ?? 0) };
  };

  /** Each store on its own: one that does not answer keeps its last values and holds up nothing else. */
  const refreshStores = () => reading ??= Promise.all([readPostgres, readRedis, readNeo4j].map((read) => withTimeout(read(), STORE_TIMEOUT_MS).catch(() => {})))
    .then(() => { storesAt = Date.now(); })
    .finally(() => { reading = null; });

  return {
    async read() {
      if (!closed && Date.now() - storesAt >= STORE_REFRESH_MS) void refreshStores();
      const [produced, lag, written, consumed, claudeCalls, claudeCost, claudeIn, claudeOut, lagSeconds, dataAge, sourceActive, sourceFetches] =
        await Promise.all([
        'marketstream_records_produced_total', 'marketstream_consumer_lag_records', 'marketstream_sink_batch_records',
        'marketstream_records_consumed_total', 'marketstream_claude_requests_total', 'marketstream_claude_cost_usd_total',
        'marketstream_claude_input_tokens_total', 'marketstream_claude_output_tokens_total', 'marketstream_consumer_lag_seconds',
        'marketstream_data_age_seconds', 'marketstream_source_active', 'marketstream_source_fetches_total',
      ].map((name) => values(metrics, name)));
      const active = sourceActive!.filter((v) => v.value === 1).map((v) => String(v.labels.source));
      const fetched = [...new Set(sourceFetches!.filter((v) => v.value > 0).map((v) => String(v.labels.source)))];
      const errors = sourceFetches!.filter((v) => v.labels.outcome === 'error').reduce((n, v) => n + v.value, 0);
      const lagSecondsBy = sumBy(lagSeconds!, 'group', Math.max);
      // The stalest symbol of each store: what a reader of that store could be shown at worst.
      const stalest = new Map<string, DemoStats['freshness'][number]>();
      for (const v of dataAge!) {
        const store = String(v.labels.store ?? '');
        if (!(stalest.get(store)?.ageSeconds! >= v.value)) {
          stalest.set(store, { store, ageSeconds: Math.round(v.value), symbol: String(v.labels.symbol ?? ''), interval: String(v.labels.interval ?? '') });
        }
      }
      const topicOrder = configuredTopics(config).map((t) => t.name);
      const publishedBy = sumBy(produced!, 'topic');
      for (const t of topicOrder) if (!publishedBy.has(t)) publishedBy.set(t, 0);
      const lagBy = sumBy(lag!, 'group');
      const writtenBy = sumBy(written!.filter((v) => v.metricName === 'marketstream_sink_batch_records_sum'), 'sink');
      const consumedBy = sumBy(consumed!, 'group');
      return {
        elapsedS: Math.round((Date.now() - startedAt) / 1000),
        topics: [...publishedBy].map(([topic, published]) => ({ topic, published }))
          .sort((a, b) => rank(topicOrder, a.topic) - rank(topicOrder, b.topic) || a.topic.localeCompare(b.topic)),
        groups: sinkNames.map((n) => {
          const group = groupIdOf(config, n);
          return {
            sink: sinks[n].name, group, lag: lagBy.get(group) ?? null, lagSeconds: lagSecondsBy.get(group) ?? null,
            written: writtenBy.get(sinks[n].name) ?? 0, consumed: consumedBy.get(group) ?? 0,
          };
        }),
        freshness: [...stalest.values()].sort((a, b) => a.store.localeCompare(b.store)),
        priceSource: { active: active.length ? active : fetched, fetches: total(sourceFetches!), errors },
        stores: { postgres: stores.postgres, redis: stores.redis, neo4j: stores.neo4j, features: stores.features },
        claude: {
          enabled: Boolean(config.ANTHROPIC_API_KEY), model: config.ANTHROPIC_MODEL,
          calls: total(claudeCalls!), costUsd: total(claudeCost!), inputTokens: total(claudeIn!), outputTokens: total(claudeOut!),
        },
      };
    },
    async refreshStores() {
      await reading;
      await refreshStores();
    },
    async close() {
      closed = true;
      await reading;
      await Promise.allSettled([pool.end(), neo4j.close()]);
      redis.disconnect();
    },
  };
}

/** Per symbol, the features of its newest bar (the finest interval when two end together). */
export async function latestFeatures(pool: { query: ReturnType<typeof createPgPool>['query'] }, symbols: readonly string[]): Promise<FeaturesLine[]> {
  const { rows } = await pool.query<{ symbol: string; interval: string; bars: string; rsi: number | null; macd: number | null; sma: number | null }>(
    `SELECT DISTINCT ON (symbol) symbol, interval, bars, rsi, macd, sma FROM price_features WHERE symbol = ANY($1)
     ORDER BY symbol, ts DESC, CASE interval WHEN '1m' THEN 0 WHEN '5m' THEN 1 WHEN '1h' THEN 2 ELSE 3 END`, [symbols]);
  return rows.map((r) => ({ symbol: r.symbol, interval: r.interval, bars: Number(r.bars), rsi: r.rsi, macd: r.macd, sma: r.sma }));
}

interface Sample { labels: Record<string, string | number | undefined>; value: number; metricName?: string }

async function values(metrics: Metrics, name: string): Promise<Sample[]> {
  const m = metrics.registry.getSingleMetric(name);
  return m ? ((await m.get()).values as Sample[]) : [];
}

/** The samples' values combined per value of `label` (added up by default). */
function sumBy(samples: Sample[], label: string, combine = (a: number, b: number) => a + b): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    const k = s.labels[label];
    if (k === undefined) continue;
    const seen = out.get(String(k));
    out.set(String(k), seen === undefined ? s.value : combine(seen, s.value));
  }
  return out;
}

function total(samples: Sample[]): number {
  return samples.reduce((n, s) => n + s.value, 0);
}

function rank(order: string[], topic: string): number {
  const i = order.indexOf(topic.replace(/\.dlq$/, ''));
  return (i === -1 ? order.length : i) * 2 + (topic.endsWith('.dlq') ? 1 : 0);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}
