// Conflation: redis-sink's latest price and neo4j-sink's Stock.last_price write only the newest record per key of each
// batch (Redis bars keep every bar). The end state must be exactly what writing every record, one at a time, leaves:
// same latest hash and watermark, same bars, same Stock properties; out-of-order event times, corrected bars (same
// bar twice) and ties included.
import { afterAll, describe, expect, it } from 'vitest';
import { createNeo4jSink } from '../../consumers/neo4j/sink.ts';
import { redisKeys } from '../../consumers/redis/keys.ts';
import { createRedisSink } from '../../consumers/redis/sink.ts';
import type { Sink, SinkRecord } from '../../consumers/types.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { createRedis } from '../../lib/stores/redis.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { bar, randomSymbol, testConfig } from '../helpers/index.ts';

// A margin of years: price:{symbol}:latest lives from its bar's end, and the fixtures' bars are months old.
const config = testConfig({ REDIS_LATEST_TTL_SECONDS: '400000000' });
const symbols = Array.from({ length: 4 }, randomSymbol);

/** 400 records over 4 symbols: event times shuffled, every 7th a correction of an earlier bar, some exact repeats. */
function stream(): SinkRecord<PriceUpdate>[] {
  const out: PriceUpdate[] = [];
  let seed = 7;
  const rnd = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };
  for (let i = 0; i < 400; i++) {
    const s = symbols[i % symbols.length]!;
    const at = Math.floor(rnd() * 60);
    const close = 100 + Math.round(rnd() * 1000) / 10;
    out.push(bar(s, at, close, i % 5 === 0 ? { vwap: close, trades: 10 + i } : {}));
    if (i % 7 === 0) out.push({ ...out[out.length - 1]!, close: close + 1, high: close + 3 }); // a correction, same bar
    if (i % 11 === 0) out.push(out[out.length - 1]!); // redelivered
  }
  return out.map((value, i) => ({ value, key: value.symbol, timestamp: 1_700_000_000_000 + i }));
}

/**
 * Per symbol, what the records say the store must end with: the bar of each event time last sent, and the newest bar
 * (by event time, the later record among equals).
 */
function expectedFrom(records: readonly SinkRecord<PriceUpdate>[]) {
  return symbols.map((s) => {
    const mine = records.map((r) => r.value!).filter((v) => v.symbol === s);
    const byTime = new Map<number, PriceUpdate>();
    for (const v of mine) byTime.set(v.eventTime, v);
    const latest = mine.reduce((a, b) => (b.eventTime >= a.eventTime ? b : a));
    return { symbol: s, bars: [...byTime.entries()].sort(([a], [b]) => a - b).map(([, v]) => v), latest };
  });
}

async function writeOneByOne(sink: Sink, records: SinkRecord<PriceUpdate>[]) {
  for (const r of records) await sink.handlers[0]!.writeBatch([r]);
}

describe('conflation: the newest record per key of a batch leaves what writing every record leaves', () => {
  const redis = createRedis(config);
  const driver = createNeo4jDriver(config);
  const clearRedis = async () => { for (const s of symbols) await redis.del(redisKeys.latest(s), redisKeys.watermark(s), redisKeys.bars(s, '1h')); };
  const clearNeo4j = () => driver.executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols DETACH DELETE c', { symbols });
  afterAll(async () => {
    await clearRedis();
    await clearNeo4j();
    redis.disconnect();
    await driver.close();
  });

  it('redis-sink: latest hash, watermark and every bar', async () => {
    const sink = createRedisSink(config);
    await sink.connect();
    const snapshot = async () => Promise.all(symbols.map(async (s) => ({
      latest: await redis.hgetall(redisKeys.latest(s)), watermark: await redis.get(redisKeys.watermark(s)),
      bars: await redis.zrange(redisKeys.bars(s, '1h'), '0', '-1', 'WITHSCORES'),
    })));
    const records = stream();
    try {
      await clearRedis();
      await writeOneByOne(sink, records);
      const everyRecord = await snapshot();
      await clearRedis();
      await sink.handlers[0]!.writeBatch(records);
      const conflated = await snapshot();
      expect(conflated).toEqual(everyRecord);
      expect(everyRecord.every((s) => s.bars.length > 0 && s.latest.close !== undefined)).toBe(true);
      // Both equal what the records say: every bar as last sent (score = event time), the newest bar in the hash.
      const expected = expectedFrom(records).map(({ bars, latest }) => ({
        latest: {
          close: String(latest.close), open: String(latest.open), high: String(latest.high), low: String(latest.low), volume: String(latest.volume),
          ts: new Date(latest.eventTime).toISOString(), interval: latest.interval, source: latest.source,
          vwap: String(latest.vwap ?? ''), trades: String(latest.trades ?? ''), quality: String(latest.quality),
        },
        watermark: String(latest.eventTime),
        bars: bars.map((b) => ({
          ts: b.eventTime, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: b.source, score: String(b.eventTime),
        })),
      }));
      const asStored = (x: typeof everyRecord) => x.map(({ latest, watermark, bars }) => ({
        latest, watermark,
        bars: bars.flatMap((m, i) => (i % 2 ? [] : [{ ...(JSON.parse(m) as Record<string, unknown>), score: bars[i + 1] }])),
      }));
      expect(asStored(everyRecord)).toEqual(expected);
      expect(asStored(conflated)).toEqual(expected);
    } finally {
      await sink.close();
    }
  });

  it('neo4j-sink: Stock.last_price, last_updated, last_vwap, last_trades', async () => {
    const sink = createNeo4jSink(config);
    await sink.connect();
    const snapshot = async () => (await driver.executeQuery(
      `MATCH (c:Company) WHERE c.symbol IN $symbols RETURN c.symbol AS s, c.last_price AS price, toString(c.last_updated) AS updated,
       c.last_updated.epochMillis AS updatedMs, c.last_vwap AS vwap, c.last_trades AS trades, labels(c) AS labels ORDER BY s`,
      { symbols },
    )).records.map((r) => r.toObject());
    const records = stream();
    try {
      await clearNeo4j();
      await writeOneByOne(sink, records);
      const everyRecord = await snapshot();
      await clearNeo4j();
      await sink.handlers[0]!.writeBatch(records);
      const conflated = await snapshot();
      expect(conflated).toEqual(everyRecord);
      expect(everyRecord).toHaveLength(symbols.length);
      // Both equal what the records say: each Stock holds its newest bar (by event time, the later record among equals).
      const expected = expectedFrom(records).sort((a, b) => a.symbol.localeCompare(b.symbol)).map(({ symbol, latest }) => ({
        s: symbol, price: latest.close, updatedMs: latest.eventTime, vwap: latest.vwap, trades: latest.trades, labels: ['Company', 'Stock'],
      }));
      const asStored = (x: typeof everyRecord) => x.map(({ s, price, updatedMs, vwap, trades, labels }) =>
        ({ s, price, updatedMs, vwap, trades, labels: [...(labels as string[])].sort() }));
      expect(asStored(everyRecord)).toEqual(expected);
      expect(asStored(conflated)).toEqual(expected);
    } finally {
      await sink.close();
    }
  });
});
