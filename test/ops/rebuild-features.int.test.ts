// Rebuild of the price-features stores against the real stack (isolated topics, random group prefix and symbols):
// price_features and the features:{symbol}:{interval} keys are cleared by symbol and replayed from price-features, and
// a rebuild is refused, clearing nothing, when retention removed records whose rows or history members the store still
// holds (deleteTopicRecords on the topic's one partition); allowPartial goes on and brings back what the log still has.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { redisKeys } from '../../consumers/redis/keys.ts';
import { startSinks } from '../../consumers/start.ts';
import type { SinkTopics } from '../../consumers/types.ts';
import { RetentionLossError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { totalLag } from '../../lib/lag.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { rebuild } from '../../ops/rebuild.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { marketEvents, priceFeatures, priceUpdates, withName } from '../../topics/index.ts';
import { BAR_T0, deleteTestTopics, featureBar, HOUR, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';
import { openStores, type Stores } from './snapshots.ts';

describe('rebuild of price_features and features:* keys', () => {
  const config = testConfig({ KAFKA_GROUP_PREFIX: randomName('test-rebuild-features'), TOPIC_PARTITIONS: '1', SINK_RETRY_MAX_MS: '1000',
    REDIS_FEATURES_TTL_MS: '600000' }); // the hashes outlive the test
  const logger = testLogger('rebuild-features-test');
  const kafka = createKafka(config, logger, 'rebuild-features-test');
  const [gone, cut] = [randomSymbol(), randomSymbol()];
  const symbols = [gone, cut];
  const scope = { symbols };
  const topics: SinkTopics = {
    prices: withName(priceUpdates, randomName('test-rebuild-features-prices')),
    events: withName(marketEvents, randomName('test-rebuild-features-events')),
    features: withName(priceFeatures, randomName('test-rebuild-features')),
  };
  // One partition, in this order: 4 bars of `gone`, then 6 of `cut`. Removing the first 6 records takes every bar of
  // `gone` and the first 2 of `cut`.
  const records = [...[0, 1, 2, 3].map((i) => featureBar(gone, i, 50 + i)), ...[0, 1, 2, 3, 4, 5].map((i) => featureBar(cut, i, 100 + i))];
  let stores: Stores;
  const rows = async () => (await stores.pg.query<{ symbol: string; t: string; rsi: number }>(
    'SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint AS t, rsi FROM price_features WHERE symbol = ANY($1) ORDER BY symbol, ts', [symbols])).rows
    .map((r) => [r.symbol, Number(r.t), r.rsi]);
  const redisState = async () => Object.fromEntries(await Promise.all(symbols.map(async (s) => [s, {
    hash: await stores.redis.hget(redisKeys.features(s, '1h'), 'close'),
    history: (await stores.redis.zrange(redisKeys.featuresHistory(s, '1h'), '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2).map(Number),
  }])));

  beforeAll(async () => {
    stores = await openStores(config);
    await ensureTopics(kafka, config, Object.values(topics));
    const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
    try {
      await publisher.send(topics.features!, records, { source: 'test' });
    } finally {
      await publisher.disconnect();
    }
    const live = await startSinks({ config, logger, names: ['postgres', 'redis'], topics });
    try {
      for (const name of ['postgres', 'redis'] as const) {
        const caughtUp = async () => (await totalLag(kafka, groupIdOf(config, name), [topics.features!.name])) === 0;
        await waitFor(caughtUp, { what: `${name} caught up`, timeoutMs: 60_000 });
      }
    } finally {
      await live.stop();
    }
  });

  afterAll(async () => {
    await stores?.pg.query('DELETE FROM price_features WHERE symbol = ANY($1)', [symbols]);
    for (const s of symbols) await stores?.redis.del(redisKeys.features(s, '1h'), redisKeys.featuresHistory(s, '1h'));
    await stores?.close();
    await deleteTestTopics(kafka, Object.values(topics).flatMap((t) => [t.name, t.dlq]));
  });

  it('a damaged store is rebuilt from price-features to what it was', async () => {
    const before = { pg: await rows(), redis: await redisState() };
    expect(before.pg.length).toBe(records.length);
    expect(before.redis[cut]).toEqual({ hash: '105', history: [0, 1, 2, 3, 4, 5].map((i) => BAR_T0 + i * HOUR) });
    await stores.pg.query('UPDATE price_features SET rsi = 0 WHERE symbol = $1', [gone]);
    await stores.redis.del(redisKeys.features(cut, '1h'));

    const pg = await rebuild({ config, logger, sink: 'postgres', topics, scope, pollMs: 200 });
    expect(pg).toMatchObject({ completed: true, records: records.length, counts: { 'price_data rows': 0, 'price_features rows': records.length } });
    const redis = await rebuild({ config, logger, sink: 'redis', topics, scope, pollMs: 200 });
    expect(redis).toMatchObject({ completed: true, records: records.length, counts: { 'features:* keys': 4 } });
    expect({ pg: await rows(), redis: await redisState() }).toEqual(before);
  });

  it('is refused when retention removed records the store holds rows and history of; allowPartial brings back what is left', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [topics.features!.name] }); // deleteTopicRecords needs the topic's leaders known
      await admin.deleteTopicRecords({ topic: topics.features!.name, partitions: [{ partition: 0, offset: '6' }] });
    } finally {
      await admin.disconnect();
    }
    const pgRefused = await rebuild({ config, logger, sink: 'postgres', topics, scope, pollMs: 200 }).catch((e: unknown) => e);
    expect(pgRefused).toBeInstanceOf(RetentionLossError);
    expect((pgRefused as RetentionLossError).losses).toEqual([expect.objectContaining({
      what: 'price_features rows', count: 6, from: BAR_T0, to: BAR_T0 + 3 * HOUR, topic: topics.features!.name,
      detail: 'of 2 symbol(s), older than the oldest bar\'s features the log still has for them',
    })]);
    const redisRefused = await rebuild({ config, logger, sink: 'redis', topics, scope, pollMs: 200 }).catch((e: unknown) => e);
    expect(redisRefused).toBeInstanceOf(RetentionLossError);
    expect((redisRefused as RetentionLossError).losses).toEqual([expect.objectContaining({
      what: 'bars in features:*:history keys', count: 6, from: BAR_T0, to: BAR_T0 + 3 * HOUR, topic: topics.features!.name,
    })]);
    expect((await rows()).length).toBe(records.length); // nothing cleared

    await rebuild({ config, logger, sink: 'postgres', topics, scope, allowPartial: true, pollMs: 200 });
    await rebuild({ config, logger, sink: 'redis', topics, scope, allowPartial: true, pollMs: 200 });
    expect((await rows()).map(([s, t]) => [s, t])).toEqual([2, 3, 4, 5].map((i) => [cut, BAR_T0 + i * HOUR]));
    expect(await redisState()).toEqual({ [gone]: { hash: null, history: [] }, [cut]: { hash: '105', history: [2, 3, 4, 5].map((i) => BAR_T0 + i * HOUR) } });
  });
});
