// Observability of a consumer group against the real Kafka, registry and PostgreSQL: /ready stays 503 until the group
// joined (its store reachable), /metrics counters move with the records, the lag gauge shows the backlog and drops to 0
// once the group caught up, and a stalled group (store cut off) turns /ready false with the reason, then recovers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startObservability, type Observability } from '../../cli/observability.ts';
import { groupIdOf } from '../../consumers/catalog.ts';
import { startSinks, type RunningSinks } from '../../consumers/start.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testKafka, waitFor } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { ready, scrape, total } from '../helpers/metrics.ts';

describe('metrics, readiness and lag of a consumer group', () => {
  const base = loadConfig();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'error', format: 'json' });
  const kafka = testKafka(base, 'obs-test');
  const pool = createPgPool(base, { max: 1 });
  let topic: TopicDef<PriceUpdate>;
  let config: Config;
  let proxy: TcpProxy;
  let obs: Observability;
  let publisher: Publisher;
  let running: RunningSinks | undefined;
  let group: string;
  const symbols = [randomSymbol(), randomSymbol()];

  beforeAll(async () => {
    topic = withName(priceUpdates, randomName('test-obs'));
    const pg = new URL(base.POSTGRES_URL);
    proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port) });
    pg.port = String(proxy.port);
    config = {
      ...base, KAFKA_GROUP_PREFIX: randomName('test-obs'), POSTGRES_URL: pg.toString(), SINK_RETRY_MAX_MS: 500,
      METRICS_PORT: 0, METRICS_HOST: '127.0.0.1', STALL_SECONDS: 2, LAG_REFRESH_SECONDS: 0.3,
    };
    group = groupIdOf(config, 'postgres');
    await ensureTopics(kafka, config, [topic]);
    obs = await startObservability({ config, logger, command: 'test consume postgres', metrics: createMetrics() });
    publisher = obs.instrumentPublisher(createPublisher({ kafka, serde: createSerde(config), logger }));
    await publisher.connect();
  });

  afterAll(async () => {
    await running?.stop();
    await obs?.close();
    await publisher?.disconnect();
    await proxy?.close();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await pool.end();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  const metric = async (name: string, labels: Record<string, string> = {}) => total(await scrape(obs.url), name, labels);

  it('is not ready before the group joined, counts what it processes, and its lag drops to 0 once caught up', async () => {
    const good = [...Array(20).keys()].flatMap((i) => symbols.map((s) => bar(s, i, 100 + i)));
    const bad = { ...bar(symbols[0]!, 99, 100), high: 1 }; // high below close: the sink dead-letters it
    await publisher.send(topic, [...good, bad], { source: 'test' });
    expect(await metric('marketstream_records_produced_total', { topic: topic.name })).toBe(41);

    // The store is unreachable: the member cannot connect to it, so it cannot join its group yet.
    proxy.cut();
    const starting = startSinks({ config, logger, names: ['postgres'], topics: { prices: topic }, hooks: obs.sinkHooks });
    const before = await waitFor(async () => {
      const r = await ready(obs.url); return r.reasons.some((x) => x.startsWith(`${group}: a member is`)) ? r : null;
    },
      { what: '/ready naming the group' });
    expect(before.status).toBe(503);
    await waitFor(async () => (await metric('marketstream_consumer_lag_records', { group, topic: topic.name })) === 41,
      { what: 'lag gauge showing the backlog of 41' });

    proxy.restore();
    running = await starting;
    obs.started();
    await waitFor(async () => (await ready(obs.url)).status === 200, { what: '/ready 200 after the group joined' });

    await waitFor(async () => {
      const text = await scrape(obs.url);
      return total(text, 'marketstream_records_consumed_total', { topic: topic.name, group }) === 41
        && total(text, 'marketstream_consumer_lag_records', { group, topic: topic.name }) === 0;
    }, { what: 'consumed counter at 41 and lag gauge at 0', timeoutMs: 60_000 });
    const text = await scrape(obs.url);
    expect(total(text, 'marketstream_dlq_records_total', { topic: topic.name, reason: 'ValidationError' })).toBe(1);
    expect(total(text, 'marketstream_sink_batch_records_sum', { sink: 'postgres-sink', topic: topic.name })).toBe(40);
    expect(total(text, 'marketstream_end_to_end_latency_seconds_count', { sink: 'postgres-sink', topic: topic.name })).toBe(40);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM price_data WHERE symbol = ANY($1)', [symbols]);
    expect(rows[0].n).toBe(40);

    const health = await (await fetch(`${obs.url}/health`)).json() as {
      status: string; dependencies: Record<string, { status: string }>; groups: Record<string, { lag: number; lastWriteAt: string | null }>;
    };
    expect(health.status).toBe('ok');
    expect(Object.keys(health.dependencies).sort()).toEqual(['kafka', 'postgres-sink', 'schema-registry']);
    expect(health.groups[group]).toMatchObject({ lag: 0, lastWriteAt: expect.any(String) });
  });

  it('turns /ready false with the reason while the group is stalled, and ready again once it moves', async () => {
    proxy.cut();
    await publisher.send(topic, symbols.map((s) => bar(s, 50, 150)), { source: 'test' });
    const stalled = await waitFor(async () => { const r = await ready(obs.url); return r.reasons.some((x) => x.includes(`${group}: stalled`)) ? r : null; },
      { what: '/ready naming the stalled group', timeoutMs: 60_000 });
    expect(stalled.status).toBe(503);
    expect(await metric('marketstream_consumer_group_stalled', { group })).toBe(1);
    expect(await metric('marketstream_errors_total', { component: 'postgres-sink' })).toBeGreaterThan(0);

    proxy.restore();
    await waitFor(async () => (await ready(obs.url)).status === 200, { what: '/ready 200 after the store came back', timeoutMs: 60_000 });
    await waitFor(async () => (await metric('marketstream_consumer_lag_records', { group, topic: topic.name })) === 0, { what: 'lag back to 0' });
    expect(await metric('marketstream_consumer_group_stalled', { group })).toBe(0);
    expect(await metric('marketstream_records_consumed_total', { topic: topic.name, group })).toBe(43);
  });
});
