// Issue #22 item 3, against the real Kafka and Schema Registry on an isolated topic: a price producer on the synthetic
// source stopped at 10:30 New York and started again (new process state: new source, new producer) at 12:30 reads back
// the last bars it published and publishes the two hours it missed, so the topic holds every minute from its first bar
// on exactly once, the same bars the seed gives; the bars older than the live window go out as `backfill`.
import { describe, expect, it } from 'vitest';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { lastPublishedBars, type LastPublishedQuery } from '../../producers/resume.ts';
import { createSyntheticSource, LIVE_WINDOW_MS } from '../../producers/sources/synthetic.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceUpdates, type TopicDef } from '../../topics/index.ts';
import { producerTestbed } from './isolated-topics.ts';

const MIN = 60_000;
const OPEN = Date.parse('2026-01-12T14:30:00Z'); // Monday 09:30 New York
const SYMBOLS = ['AAPL', 'MSFT', 'JPM'];

describe('synthetic price producer restart (real Kafka)', () => {
  const bed = producerTestbed(priceUpdates, { prefix: 'test-synthetic-restart', name: 'synthetic-restart' });

  function producer(topic: TopicDef<PriceUpdate>) {
    const source = createSyntheticSource({ seed: 8, interval: '1m' });
    const reader = { kafka: bed.kafka, serde: bed.serde, topic, groupPrefix: bed.config.KAFKA_GROUP_PREFIX };
    const lastPublished = (q: LastPublishedQuery) => lastPublishedBars(reader, q);
    return createPriceProducer({
      config: bed.config, logger: bed.logger, publisher: bed.publisher(), topic, source, symbols: SYMBOLS, intervalMs: MIN, lastPublished,
    });
  }

  it('fills the hole a restart left: every minute once, the seed\'s bars, old ones as backfill', async () => {
    const topic = await bed.topics.create();
    const first = producer(topic);
    // Nothing published yet: a fresh start, the latest bar only (09:59), then each new minute, then a short catch-up.
    expect(await first.publishOnce(OPEN + 30 * MIN + 5_000)).toMatchObject({ published: 3 });
    expect(await first.publishOnce(OPEN + 31 * MIN + 5_000)).toMatchObject({ published: 3 });
    expect(await first.publishOnce(OPEN + 60 * MIN + 5_000)).toMatchObject({ published: 3 * 29 }); // 10:01..10:29
    // Stopped at 10:30; a new producer at 12:30 finds 10:29 on the topic and regenerates 10:30..12:29.
    const second = producer(topic);
    expect(await second.publishOnce(OPEN + 180 * MIN + 5_000)).toEqual({ fetched: 3 * 120, published: 3 * 120, invalid: 0, rejected: 0 });
    expect(await second.publishOnce(OPEN + 180 * MIN + 30_000)).toMatchObject({ fetched: 0 }); // same minute: nothing new

    const got = (await bed.topics.decodeAll(topic, await bed.topics.count(topic))).map((r) => r.value);
    const key = (b: PriceUpdate) => `${b.symbol}@${(b.eventTime - OPEN) / MIN}`;
    expect(got.length).toBe(new Set(got.map(key)).size); // none twice
    const expected = createSyntheticSource({ seed: 8 }).bars(SYMBOLS, { from: OPEN + 29 * MIN, to: OPEN + 180 * MIN, interval: '1m' });
    const strip = ({ ingestTime: _, source: __, ...rest }: PriceUpdate) => rest;
    const byKey = (bars: PriceUpdate[]) => new Map(bars.map((b) => [key(b), strip(b)]));
    expect(byKey(got)).toEqual(byKey(expected));
    // Bars that ended more than the live window before their tick are history (never refused as stale), the rest live.
    const minute = (b: PriceUpdate) => (b.eventTime - OPEN) / MIN;
    const tickOf = (b: PriceUpdate) => OPEN + 5_000 + MIN * (minute(b) < 30 ? 30 : minute(b) < 31 ? 31 : minute(b) < 60 ? 60 : 180);
    for (const b of got) expect(b.source, key(b)).toBe(tickOf(b) - (b.eventTime + MIN) > LIVE_WINDOW_MS ? 'backfill' : 'synthetic');
    expect(got.filter((b) => b.source === 'backfill').length).toBeGreaterThan(3 * 100);
  });
});
