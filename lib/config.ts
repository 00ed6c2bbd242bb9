// Configuration from environment variables, validated once at start.
// Every field names its variable; a bad value fails with "<VAR>: <what is expected>".
import { z } from 'zod';
import { EVENT_FEEDS } from '../topics/market-event.ts';
import { isPriceInterval, PRICE_FEEDS, PRICE_INTERVALS, type PriceInterval } from '../topics/price-update.ts';
import { SYMBOL_PATTERN } from '../topics/rules.ts';
import { CALENDAR_NAMES } from './calendar.ts';
import { ConfigError } from './errors.ts';

/** The synthetic source's seed when none is given (SYNTHETIC_SEED, and the source's own default). */
export const SYNTHETIC_SEED_DEFAULT = 42;

/**
 * The free tiers' limits, the defaults of the providers' rate limits. Alpha Vantage: "up to 25 API requests per day"
 * for a free key, and at most 5 a minute (the per-minute figure is from its "Note" answer; its docs page was not at
 * hand). Twelve Data's Basic plan: 8 API credits per minute and 800 per day, reset at midnight UTC; a time_series or
 * quote request costs one credit per symbol.
 */
export const ALPHAVANTAGE_FREE_TIER = { perMinute: 5, perDay: 25 } as const;
export const TWELVEDATA_FREE_TIER = { perMinute: 8, perDay: 800 } as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: `expected an integer between ${min} and ${max}` })
    .int(`expected an integer between ${min} and ${max}`).min(min, `expected an integer >= ${min}`).max(max, `expected an integer <= ${max}`);
const num = (min: number) => z.coerce.number({ error: 'expected a number' }).min(min, `expected a number >= ${min}`);
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected ${values.slice(0, -1).join(', ')} or ${values.at(-1)}` });
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: string[]) => z.string().refine((v) => {
  try { return protocols.includes(new URL(v).protocol.replace(':', '')); } catch { return false; }
}, `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`);
const list = (item: RegExp, what: string) => z.string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .refine((xs) => xs.length > 0 && xs.every((x) => item.test(x)), `expected a comma-separated list of ${what}`);
/** One of `values`, or several, comma-separated, each once (in order of preference). */
const oneOrMore = <const T extends readonly [string, ...string[]]>(values: T) => z.string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .refine((xs) => xs.length > 0 && xs.every((x) => (values as readonly string[]).includes(x)) && new Set(xs).size === xs.length,
    `expected one of ${values.join(', ')}, or several of them comma-separated (each once)`)
  .transform((xs) => xs as T[number][]);

/** Freshness limits per bar interval when FRESHNESS_LIMITS leaves one out (seconds; see the variable). */
export const FRESHNESS_LIMIT_DEFAULTS: Readonly<Record<PriceInterval, number>> = { tick: 60, '1m': 300, '5m': 900, '1h': 3600, '1d': 21_600 };

/** `1m=300,1h=3600`: seconds per interval, the others from FRESHNESS_LIMIT_DEFAULTS. */
const freshnessLimits = z.string()
  .transform((v, ctx) => {
    const out: Record<PriceInterval, number> = { ...FRESHNESS_LIMIT_DEFAULTS };
    for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
      const [name = '', seconds = '', ...rest] = item.split('=');
      if (rest.length || !isPriceInterval(name) || !/^\d+(\.\d+)?$/.test(seconds) || !(Number(seconds) > 0)) {
        const message = `expected interval=seconds pairs (intervals ${PRICE_INTERVALS.join(', ')}; seconds > 0), e.g. 1m=300,1h=3600`;
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      out[name] = Number(seconds);
    }
    return out;
  });

/** The local stack's Kafka (`stack up`): node i of STACK_KAFKA_BROKERS listens on 127.0.0.1, port 9092 + 2(i-1). */
export const STACK_KAFKA = { host: '127.0.0.1', port: 9092 } as const;

/** Broker port of node `nodeId` (1-based) of a cluster whose node 1 listens on `portBase`; its controller takes the next. */
export const kafkaNodePort = (nodeId: number, portBase: number = STACK_KAFKA.port): number => portBase + 2 * (nodeId - 1);

/** host:port of every broker of the local stack of `count` nodes: what KAFKA_BROKERS is when unset. */
export function stackKafkaBrokers(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${STACK_KAFKA.host}:${kafkaNodePort(i + 1)}`);
}

/** The variables, their defaults and meaning. README's configuration table is written from this. */
export const configSpec = {
  KAFKA_BROKERS: {
    schema: list(/^[\w.-]+:\d+$/, 'host:port'), default: stackKafkaBrokers(1).join(','),
    doc: `Kafka bootstrap brokers. Unset: every broker of the local stack (STACK_KAFKA_BROKERS), e.g. ${stackKafkaBrokers(3).join(',')} with 3`,
  },
  KAFKA_CLIENT_ID: { schema: z.string().min(1), default: 'marketstream', doc: 'Kafka client id prefix' },
  KAFKA_GROUP_PREFIX: {
    schema: z.string().regex(/^[\w.-]+$/, 'expected letters, digits, dot, dash or underscore'), default: 'marketstream',
    doc: 'Consumer group ids are <prefix>.<group>',
  },
  KAFKA_SSL: { schema: bool, default: 'false', doc: 'Use TLS to reach Kafka' },
  KAFKA_SASL_MECHANISM: { schema: oneOf(['none', 'plain', 'scram-sha-256', 'scram-sha-512']), default: 'none', doc: 'SASL mechanism for Kafka' },
  KAFKA_SASL_USERNAME: { schema: z.string(), default: '', doc: 'SASL user name' },
  KAFKA_SASL_PASSWORD: { schema: z.string(), default: '', doc: 'SASL password (secret)' },
  SCHEMA_REGISTRY_URL: { schema: url(['http', 'https']), default: 'http://127.0.0.1:8081', doc: 'Confluent-compatible Schema Registry' },
  SCHEMA_REGISTRY_USERNAME: { schema: z.string(), default: '', doc: 'Registry basic-auth user' },
  SCHEMA_REGISTRY_PASSWORD: { schema: z.string(), default: '', doc: 'Registry basic-auth password (secret)' },
  SCHEMA_AUTO_REGISTER: {
    schema: bool, default: 'true',
    doc: 'Producers register their value schema on first use (development); false = they only look up the id of the schema registered by `marketstream ' +
      'schema register` and fail when it is not there (production)',
  },
  SCHEMA_CACHE_DIR: {
    schema: z.string(), default: '',
    doc: 'Folder keeping every schema fetched from the registry by id (ids never change), so records keep decoding while the registry is down, also after a ' +
      'restart; empty = ~/.cache/marketstream/schemas',
  },
  POSTGRES_URL: {
    schema: url(['postgres', 'postgresql']), default: 'postgres://marketstream:marketstream@127.0.0.1:5432/marketstream',
    doc: 'PostgreSQL connection URL',
  },
  POSTGRES_STATEMENT_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '20000',
    doc: 'PostgreSQL statement_timeout of every connection: the server cancels a statement running longer (a retriable timeout: the batch is ' +
      'retried); 0 = none',
  },
  POSTGRES_LOCK_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '10000',
    doc: 'PostgreSQL lock_timeout of every connection: a statement waiting this long for a lock another session holds (e.g. LOCK TABLE) gives up ' +
      '(a retriable timeout); 0 = none',
  },
  POSTGRES_QUERY_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '25000',
    doc: "Client-side deadline of each PostgreSQL query and COPY (pg's query_timeout): ends a call whose connection stopped answering (dropped " +
      'silently, server frozen), and the connection is discarded; keep it above POSTGRES_STATEMENT_TIMEOUT_MS; 0 = none',
  },
  POSTGRES_CONNECT_TIMEOUT_MS: { schema: int(100, 600_000), default: '5000', doc: 'Longest wait for a new PostgreSQL connection (or a free one of the pool)' },
  POSTGRES_KEEPALIVE_MS: {
    schema: int(0, 3_600_000), default: '10000',
    doc: 'TCP keep-alive of PostgreSQL connections: idle time before the first probe, so a dead peer is noticed by the OS; 0 = keep-alive off',
  },
  REDIS_URL: { schema: url(['redis', 'rediss']), default: 'redis://127.0.0.1:6379', doc: 'Redis connection URL' },
  REDIS_COMMAND_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '5000',
    doc: "Deadline of each Redis command (ioredis's commandTimeout), queued or sent: a command without a reply by then fails as a retriable timeout; 0 = none",
  },
  NEO4J_URL: { schema: url(['bolt', 'neo4j', 'bolt+s', 'neo4j+s']), default: 'bolt://127.0.0.1:7687', doc: 'Neo4j Bolt URL' },
  NEO4J_USER: { schema: z.string().min(1), default: 'neo4j', doc: 'Neo4j user' },
  NEO4J_PASSWORD: { schema: z.string(), default: 'marketstream', doc: 'Neo4j password (secret)' },
  NEO4J_DATABASE: {
    schema: z.string(), default: '',
    doc: "Neo4j database the neo4j-sink writes and the enricher, `enrich reclassify`, `explain` and the demo read; empty = the server's default database " +
      '(Neo4j Community has only that one)',
  },
  NEO4J_TRANSACTION_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '20000',
    doc: 'Neo4j transaction timeout of each query and transaction: the server terminates one running longer (a retriable timeout); 0 = the server\'s own',
  },
  NEO4J_QUERY_TIMEOUT_MS: {
    schema: int(0, 3_600_000), default: '25000',
    doc: 'Client-side deadline of each Neo4j query and transaction, retries included: ends a call whose connection stopped answering (the driver can ' +
      'wait for ever on a dropped one); keep it above NEO4J_TRANSACTION_TIMEOUT_MS; 0 = none',
  },
  NEO4J_CONNECT_TIMEOUT_MS: { schema: int(100, 600_000), default: '5000', doc: 'Longest wait for a new Neo4j connection' },
  NEO4J_MAX_RETRY_TIME_MS: {
    schema: int(0, 600_000), default: '10000',
    doc: "How long the Neo4j driver retries a transaction that failed transiently (its maxTransactionRetryTime) before the error reaches the sink",
  },
  ANTHROPIC_API_KEY: { schema: z.string(), default: '', doc: 'Claude API key; empty = rule-based classifier (secret)' },
  ANTHROPIC_MODEL: { schema: z.string().min(1), default: 'claude-haiku-5-5', doc: 'Claude model used by the enricher' },
  ANTHROPIC_BASE_URL: { schema: z.union([z.literal(''), url(['http', 'https'])]), default: '', doc: 'Override of the Messages API base URL' },
  CLAUDE_MAX_CONCURRENCY: { schema: int(1, 64), default: '4', doc: 'Claude requests in flight at once per enricher member (and in `enrich reclassify`)' },
  CLAUDE_MAX_RETRIES: {
    schema: int(0, 10), default: '4',
    doc: 'Retries of a Claude call on 429, 5xx, timeout or connection error (backoff with jitter, retry-after honoured)',
  },
  CLAUDE_TIMEOUT_MS: { schema: int(1000), default: '30000', doc: 'Timeout of one Claude request' },
  CLAUDE_HOURLY_TOKEN_BUDGET: {
    schema: int(0), default: '250000',
    doc: 'Most Claude tokens (input + output) per rolling hour for every process that calls Claude (each enricher member, `enrich reclassify` and ' +
      'each graph producer\'s competitor finder: one allowance kept in PostgreSQL), then fallback (rules; same-industry peers); 0 = no limit',
  },
  CLAUDE_HOURLY_COST_BUDGET_USD: {
    schema: num(0), default: '1',
    doc: 'Most Claude spend (USD) per rolling hour for every process that calls Claude (shared like the token budget), then fallback; 0 = no limit',
  },
  CLAUDE_PRICE_PER_MTOK: {
    schema: z.union([z.literal(''), z.string().regex(/^\d+(\.\d+)?\/\d+(\.\d+)?$/, 'expected <input>/<output> USD per million tokens, e.g. 0.1/0.5')]),
    default: '',
    doc: 'Override of the Claude price table (input/output USD per million tokens); empty = built-in table',
  },
  SYMBOLS: { schema: list(SYMBOL_PATTERN, 'ticker symbols (A-Z, 0-9, . ^ = -)'), default: 'AAPL,MSFT,GOOGL,TSLA,NVDA', doc: 'Symbols the producers follow' },
  PRICE_SOURCE: {
    schema: oneOrMore(PRICE_FEEDS), default: 'synthetic',
    doc: 'Price producer source, or a chain of them in order of preference (e.g. yahoo,alphavantage,twelvedata): the first that can be asked answers, ' +
      'the next takes over when it fails (README "Price sources and failover")',
  },
  PRICE_POLL_SECONDS: { schema: num(0.001), default: '60', doc: 'Seconds between price fetches' },
  ALPHAVANTAGE_API_KEY: { schema: z.string(), default: '', doc: 'Alpha Vantage API key of the alphavantage source (secret)' },
  ALPHAVANTAGE_BASE_URL: { schema: url(['http', 'https']), default: 'https://www.alphavantage.co', doc: 'Alpha Vantage API base URL' },
  ALPHAVANTAGE_REQUESTS_PER_MINUTE: {
    schema: int(0), default: String(ALPHAVANTAGE_FREE_TIER.perMinute),
    doc: 'Most Alpha Vantage requests per minute (one per symbol and poll; default: the free tier); 0 = no limit',
  },
  ALPHAVANTAGE_REQUESTS_PER_DAY: {
    schema: int(0), default: String(ALPHAVANTAGE_FREE_TIER.perDay),
    doc: 'Most Alpha Vantage requests per day (default: the free tier, which 5 symbols spend in 5 polls); 0 = no limit',
  },
  TWELVEDATA_API_KEY: { schema: z.string(), default: '', doc: 'Twelve Data API key of the twelvedata source (secret)' },
  TWELVEDATA_BASE_URL: { schema: url(['http', 'https']), default: 'https://api.twelvedata.com', doc: 'Twelve Data API base URL' },
  TWELVEDATA_CREDITS_PER_MINUTE: {
    schema: int(0), default: String(TWELVEDATA_FREE_TIER.perMinute),
    doc: 'Most Twelve Data API credits per minute (one per symbol and poll; default: the Basic plan); 0 = no limit',
  },
  TWELVEDATA_CREDITS_PER_DAY: {
    schema: int(0), default: String(TWELVEDATA_FREE_TIER.perDay), doc: 'Most Twelve Data API credits per day (default: the Basic plan); 0 = no limit',
  },
  SYNTHETIC_SEED: { schema: int(0), default: String(SYNTHETIC_SEED_DEFAULT), doc: 'Seed of the synthetic source' },
  SYNTHETIC_CALENDAR: {
    schema: oneOf(CALENDAR_NAMES), default: 'us',
    doc: 'Calendar the synthetic source trades on: us (NYSE/Nasdaq sessions, holidays, half days) or 24x7 (never closes)',
  },
  EVENT_SOURCE: { schema: oneOf(EVENT_FEEDS), default: 'file', doc: 'Events producer source: file (EVENT_FILE, offline) or yahoo (news per symbol)' },
  EVENT_POLL_SECONDS: { schema: num(0.001), default: '300', doc: 'Seconds between news fetches of the events producer' },
  EVENT_FILE: {
    schema: z.string(), default: '',
    doc: 'JSONL events file of the file source; empty = the bundled sample (producers/events/sample-events.jsonl)',
  },
  EVENT_NEWS_PER_SYMBOL: { schema: int(1, 100), default: '10', doc: 'Articles asked from Yahoo per symbol and fetch' },
  GRAPH_PROFILE_SOURCE: {
    schema: oneOf(['file', 'yahoo']), default: 'file',
    doc: 'Graph producer company profiles: file (GRAPH_PROFILES_FILE, offline) or yahoo (quoteSummary assetProfile + price)',
  },
  GRAPH_PROFILES_FILE: {
    schema: z.string(), default: '',
    doc: 'JSON company profiles file; empty = the bundled sample (producers/graph/sample-profiles.json, sample data)',
  },
  GRAPH_POLL_MINUTES: { schema: num(0.001), default: '60', doc: 'Minutes between graph producer runs (profiles and competitors)' },
  GRAPH_COMPETITORS_REFRESH_HOURS: {
    schema: num(0), default: '24',
    doc: "How long Claude's competitor answer for a company is reused before asking again (per process)",
  },
  CORRELATION_POLL_MINUTES: { schema: num(0.001), default: '60', doc: 'Minutes between correlation analyzer runs' },
  CORRELATION_WINDOW_DAYS: { schema: int(2, 3650), default: '30', doc: 'Daily returns in the correlation window (trading days both symbols have)' },
  CORRELATION_THRESHOLD: {
    schema: z.coerce.number({ error: 'expected a number between 0 and 1' })
      .min(0, 'expected a number between 0 and 1').max(1, 'expected a number between 0 and 1'),
    default: '0.7',
    doc: 'Smallest |Pearson r| published as CORRELATED_WITH',
  },
  GAPS_CALENDAR: {
    schema: oneOf(CALENDAR_NAMES), default: 'us',
    doc: 'Calendar stored bars are held against: by `gaps`, `backfill --gaps` and the missing-bars gauge, and by freshness (a bar is late only once ' +
      'this calendar says the next one was complete, so a Friday close is fresh all weekend; /ready fails for late bars only while one of its ' +
      'sessions is open): us, or 24x7 for a synthetic source on SYNTHETIC_CALENDAR=24x7',
  },
  GAPS_GRACE_SECONDS: {
    schema: int(0), default: '300',
    doc: 'A bar counts as missing once it ended this long ago (a live bar on its way through the pipeline is not a gap)',
  },
  GAPS_REFRESH_SECONDS: {
    schema: num(0), default: '300',
    doc: 'Seconds between recounts of marketstream_price_missing_bars by the postgres-sink process (0 = no gauge)',
  },
  GAPS_LOOKBACK_DAYS: {
    schema: int(1, 36_500), default: '30',
    doc: 'Days back the missing-bars gauge counts, for each series of SYMBOLS (from its first bar when that is later)',
  },
  TOPIC_PARTITIONS: { schema: int(1, 1000), default: '6', doc: 'Partitions of each main topic' },
  PRICE_UPDATES_TOPIC: {
    schema: z.string().regex(/^[\w.-]{1,249}$/, 'expected a Kafka topic name (letters, digits, dot, dash or underscore)'), default: 'price-updates',
    doc: 'Name of the price-updates topic, e.g. a per-environment namespace on a shared cluster (its DLQ is <name>.dlq, its subject <name>-value)',
  },
  PRICE_FEATURES_TOPIC: {
    schema: z.string().regex(/^[\w.-]{1,249}$/, 'expected a Kafka topic name (letters, digits, dot, dash or underscore)'), default: 'price-features',
    doc: 'Name of the price-features topic (the features group writes it; postgres-sink and redis-sink read it), namespaced like PRICE_UPDATES_TOPIC',
  },
  TOPIC_REPLICATION_FACTOR: { schema: int(1, 10), default: '1', doc: 'Replication factor of the topics (3 on a production cluster)' },
  TOPIC_MIN_INSYNC_REPLICAS: {
    schema: int(1, 10), default: '1',
    doc: 'min.insync.replicas of the topics and their DLQs: replicas that must have a record before an acks=all send succeeds (2 with replication factor 3: ' +
      'one broker may fail without losing an acknowledged record or stopping writes); at most TOPIC_REPLICATION_FACTOR',
  },
  PRICE_RETENTION_DAYS: { schema: int(1), default: '90', doc: 'Retention of price-updates (replay window)' },
  EVENT_RETENTION_DAYS: { schema: int(1), default: '365', doc: 'Retention of market-events and graph-mutations' },
  REDIS_LATEST_TTL_SECONDS: {
    schema: int(1), default: '60',
    doc: 'Margin of price:{symbol}:latest\'s TTL, which follows the bar\'s interval and counts from the bar\'s end: the key expires at the bar\'s end '
      + 'plus two intervals plus this margin (a tick: its time plus the margin), e.g. 1m bar 10:00 until 10:04, 1h bar 10:00 until 13:01, so it outlives '
      + 'the next bar\'s arrival; a bar whose expiry has passed when written (a replay, a rebuild) leaves no latest key, and a redelivery never extends it',
  },
  REDIS_BARS_CAP: { schema: int(1), default: '5000', doc: 'Bars kept per bars:{symbol}:{interval}' },
  REDIS_FEATURES_TTL_MS: {
    schema: int(1), default: '2000',
    doc: 'TTL of features:{symbol}:{interval} (the latest bar\'s indicators, 2 s live as the system it replaces cached them), counted from each write '
      + 'of it (a later bar, or the latest one recomputed); a record of an older bar, or an older version, never refreshes it; the history has no TTL',
  },
  REDIS_FEATURES_HISTORY: {
    schema: int(1), default: '5000', doc: 'Bars kept per features:{symbol}:{interval}:history (as REDIS_BARS_CAP for bars:{symbol}:{interval})',
  },
  POSTGRES_SINK_POOL_SIZE: {
    schema: int(1, 1000), default: '8',
    doc: 'PostgreSQL connections of one postgres-sink member: one batch write holds one, and at most SINK_PARTITIONS_CONCURRENCY write at once',
  },
  FEATURES_POOL_SIZE: {
    schema: int(1, 1000), default: '4',
    doc: 'PostgreSQL connections of one features member (its state store: one batch holds one while it computes and publishes)',
  },
  FEATURES_HISTORY_BARS: {
    schema: int(1, 100000), default: '500',
    doc: 'Bars of each symbol and interval the features group holds (and up to a quarter more): how far back a correction or a late bar is recomputed '
      + 'exactly; an older one is dead-lettered (rebuild features recomputes everything from the log)',
  },
  FEATURES_SMA_PERIOD: { schema: int(2, 10000), default: '20', doc: 'Features: SMA period' },
  FEATURES_EMA_FAST_PERIOD: { schema: int(2, 10000), default: '12', doc: 'Features: the fast EMA\'s period' },
  FEATURES_EMA_SLOW_PERIOD: { schema: int(2, 10000), default: '26', doc: 'Features: the slow EMA\'s period' },
  FEATURES_MACD_PERIODS: {
    schema: z.string().regex(/^\d+,\d+,\d+$/, 'expected fast,slow,signal periods, e.g. 12,26,9')
      .transform((v) => v.split(',').map(Number) as [number, number, number])
      .refine((p) => p.every((n) => n >= 2 && n <= 10000), 'expected periods between 2 and 10000'),
    default: '12,26,9', doc: 'Features: MACD fast,slow,signal periods',
  },
  FEATURES_RSI_PERIOD: { schema: int(2, 10000), default: '14', doc: 'Features: RSI period (Wilder)' },
  FEATURES_BOLLINGER_PERIOD: { schema: int(2, 10000), default: '20', doc: 'Features: Bollinger bands\' period' },
  FEATURES_BOLLINGER_DEVIATIONS: {
    schema: z.coerce.number({ error: 'expected a number between 0.1 and 10' }).min(0.1, 'expected a number >= 0.1').max(10, 'expected a number <= 10'),
    default: '2', doc: 'Features: Bollinger bands\' width in population standard deviations',
  },
  FEATURES_ATR_PERIOD: { schema: int(2, 10000), default: '14', doc: 'Features: ATR period (Wilder)' },
  FEATURES_VOLATILITY_PERIOD: { schema: int(2, 10000), default: '20', doc: 'Features: log returns in the realized volatility (population standard deviation)' },
  ENRICHER_POOL_SIZE: {
    schema: int(1, 1000), default: '4',
    doc: 'PostgreSQL connections of one enricher member (classification cache, shared Claude budget, market_events)',
  },
  ENRICHER_CLAIM_TTL_MS: {
    schema: int(1000), default: '30000',
    doc: 'How long an enricher member\'s claim on an event lasts before another member may take it over (renewed while Claude is asked): '
      + 'one member asks Claude per event',
  },
  ENRICHER_CLAIM_WAIT_MS: {
    schema: int(0), default: '120000',
    doc: 'Longest an enricher member waits for the classification of an event another member has claimed, before it takes the claim over',
  },
  SINK_PARTITIONS_CONCURRENCY: { schema: int(1, 64), default: '3', doc: 'Partitions a sink member writes concurrently' },
  SINK_PIPELINE: {
    schema: bool, default: 'true',
    doc: 'Fetch and decode the next batch of a partition while the store writes the one before (each batch is still committed only after its write); false = ' +
      'fetch, write and commit strictly in turn',
  },
  SINK_COMMIT_INTERVAL_MS: {
    schema: int(0, 60000), default: '100',
    doc: 'With SINK_PIPELINE: the longest a written batch waits for its offsets to be committed, in one request for all of a member\'s partitions (0 = one ' +
      'commit per batch). A crash in between only means those records are written again',
  },
  SINK_DLQ_TRANSACTIONS: {
    schema: bool, default: 'true',
    doc: 'Publish a batch\'s dead letters and commit its offsets in one Kafka transaction (transactional id per group and partition), so a DLQ reader ' +
      '(read_committed) sees each bad record once, also across a crash or a rebalance between the publish and the commit; false = publish, then commit',
  },
  SINK_FETCH_MAX_BYTES: {
    schema: int(1024), default: '2097152',
    doc: 'Most bytes one fetch of a sink member returns, over all its partitions (the batch size a catch-up writes at a time). Larger fetches cost memory ' +
      '(each record becomes objects several times its size) and, with SINK_PIPELINE, gain no speed',
  },
  SINK_FETCH_PARTITION_MAX_BYTES: { schema: int(1024), default: '524288', doc: 'Most bytes one fetch returns per partition' },
  SINK_MAX_HEAP_MB: {
    schema: int(0, 65536), default: '0',
    doc: 'Heap limit (V8 old space, MB) of `consume` and `rebuild` processes and of `--instances` members, e.g. 192 in a container with little memory: ' +
      'bounds their memory (V8 otherwise lets the heap grow far past what a sink keeps alive) at the cost of more garbage collection; 0 = V8\'s own limit',
  },
  SINK_RETRY_MAX_MS: { schema: int(100), default: '30000', doc: 'Longest back-off between retries of a failed store write' },
  SINK_UNKNOWN_ERROR_ATTEMPTS: {
    schema: int(1, 1000), default: '8',
    doc: 'Attempts of a batch step that fails with the same unclassified error (a bug in a sink, an unknown driver error) before the member stops with it ' +
      'and `consume` exits 1; a store that is down or refusing us is retried without limit',
  },
  DLQ_MAX_REDRIVES: {
    schema: int(0, 1000), default: '3',
    doc: 'Times `dlq redrive` sends one dead letter back to its topic (counted across rounds by its redrive-count header); a record redriven this often is ' +
      'refused; 0 = never',
  },
  KAFKA_SESSION_TIMEOUT_MS: {
    schema: int(6000, 300_000), default: '30000',
    doc: 'Consumer group session timeout: a member silent this long is evicted. Members heartbeat every tenth of it, also while a batch is retried or isolated',
  },
  SHUTDOWN_GRACE_SECONDS: {
    schema: int(1, 3600), default: '30',
    doc: 'After SIGINT/SIGTERM, the longest a long-running command (`produce …`, `consume`, `run`) may take to stop gracefully before it exits 1 anyway (a ' +
      'second signal exits 1 at once); keep it below an orchestrator\'s own limit (Kubernetes terminationGracePeriodSeconds, `docker stop --time`), which ' +
      'kills the process without a word',
  },
  METRICS_PORT: { schema: int(0, 65535), default: '9464', doc: 'Port of /metrics, /health, /ready, /live (0 = any free port)' },
  METRICS_HOST: {
    schema: z.string().min(1), default: '127.0.0.1',
    doc: 'Address /metrics and the health endpoints listen on (0.0.0.0 to reach them from other hosts, e.g. in a container)',
  },
  STALL_SECONDS: {
    schema: int(1), default: '120',
    doc: 'A consumer group with lag and no progress for this long is stalled: /ready turns false and the cause is logged',
  },
  LAG_REFRESH_SECONDS: {
    schema: num(0.1), default: '5',
    doc: 'Seconds between reads of consumer lag from the broker (lag gauges in records and in seconds, stall detection)',
  },
  LAG_WARN_SECONDS: {
    schema: num(0), default: '300',
    doc: '`doctor` warns about a consumer group whose oldest unconsumed record is older than this (lag in seconds); 0 = any lag in seconds warns',
  },
  FRESHNESS_LIMITS: {
    schema: freshnessLimits, default: Object.entries(FRESHNESS_LIMIT_DEFAULTS).map(([k, v]) => `${k}=${v}`).join(','),
    doc: 'Seconds per bar interval a store\'s newest bar of a symbol may be late (counted from when the calendar says the next bar was complete) ' +
      'before /ready fails during a session; also the step by which a bar\'s confidence halves (topics/price-update.ts priceConfidence). Intervals ' +
      'left out keep their default',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    schema: z.union([z.literal(''), url(['http', 'https'])]), default: '',
    doc: 'OpenTelemetry traces (README "Traces"): base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo), spans go to <url>/v1/traces as ' +
      'JSON; empty = tracing off (no SDK loaded, no traceparent header)',
  },
  LOG_LEVEL: { schema: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), default: 'info', doc: 'Log level' },
  LOG_FORMAT: { schema: oneOf(['auto', 'json', 'pretty']), default: 'auto', doc: 'json, pretty, or auto (pretty on a terminal)' },
  STACK_DIR: { schema: z.string().min(1), default: '.stack', doc: 'Data, logs and pid files of the local stack' },
  STACK_KAFKA_BROKERS: {
    schema: int(1, 5), default: '1',
    doc: 'Kafka brokers `stack up` runs: 1 on 127.0.0.1:9092, or a KRaft cluster (3 as in production: brokers on 9092, 9094, 9096, internal topics ' +
      'replicated 3 times with min ISR 2); an unset KAFKA_BROKERS then lists all of them',
  },
} as const;

type Spec = typeof configSpec;
export type Config = { readonly [K in keyof Spec]: z.output<Spec[K]['schema']> };

const unset = (v: string | undefined) => v === undefined || v === '';

/** Parse and validate; throws one ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, field] of Object.entries(configSpec)) {
    const raw = unset(env[name]) ? field.default : env[name];
    const parsed = (field.schema as z.ZodType).safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${name}: ${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(raw)})`);
  }
  if (unset(env.KAFKA_BROKERS) && typeof out.STACK_KAFKA_BROKERS === 'number') out.KAFKA_BROKERS = stackKafkaBrokers(out.STACK_KAFKA_BROKERS);
  if (typeof out.TOPIC_MIN_INSYNC_REPLICAS === 'number' && typeof out.TOPIC_REPLICATION_FACTOR === 'number'
    && out.TOPIC_MIN_INSYNC_REPLICAS > out.TOPIC_REPLICATION_FACTOR) {
    problems.push(`TOPIC_MIN_INSYNC_REPLICAS: expected at most TOPIC_REPLICATION_FACTOR (${out.TOPIC_REPLICATION_FACTOR}); ` +
      `with more, every send fails (got ${out.TOPIC_MIN_INSYNC_REPLICAS})`);
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  return out as Config;
}

/** The Neo4j database to use (NEO4J_DATABASE), undefined for the server's default: what the driver's `database` option takes. */
export function neo4jDatabase(config: Pick<Config, 'NEO4J_DATABASE'>): string | undefined {
  return config.NEO4J_DATABASE || undefined;
}

/** Variables whose values must never be printed. */
export const secretVariables = [
  'KAFKA_SASL_PASSWORD', 'SCHEMA_REGISTRY_PASSWORD', 'NEO4J_PASSWORD', 'ANTHROPIC_API_KEY', 'ALPHAVANTAGE_API_KEY', 'TWELVEDATA_API_KEY',
] as const;
