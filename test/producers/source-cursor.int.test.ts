// The synthetic and file price sources move their cursor only once Kafka acknowledged the send: a tick whose send
// fails for good (caused for real: the Schema Registry cut off through a TCP proxy while the publisher's serde
// registers the schema) publishes nothing, and the next tick publishes exactly the rows or bars of the failed one —
// none lost, none doubled; after that the source moves on.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPriceProducer } from '../../producers/price-producer.ts';
import { createFileSource } from '../../producers/sources/file.ts';
import { createSyntheticSource } from '../../producers/sources/synthetic.ts';
import type { PriceFeed } from '../../producers/sources/types.ts';
import { priceUpdates } from '../../topics/index.ts';
import { testConfig } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { producerTestbed } from './isolated-topics.ts';

const T0 = Date.UTC(2026, 0, 5, 14, 30);

describe('price source cursors (synthetic, file)', () => {
  const bed = producerTestbed(priceUpdates, { prefix: 'test-source-cursor', name: 'source-cursor-test' });
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => {});
  });

  /** A publisher whose serde reaches the registry through a proxy the test can cut (a fresh serde: nothing cached). */
  async function publisherViaProxy(): Promise<{ publisher: Publisher; proxy: TcpProxy }> {
    const registry = new URL(bed.config.SCHEMA_REGISTRY_URL);
    const proxy = await startTcpProxy({ host: registry.hostname, port: Number(registry.port) });
    cleanup.push(() => proxy.close());
    registry.port = String(proxy.port);
    const publisher = createPublisher({ kafka: bed.kafka, serde: createSerde(testConfig({ SCHEMA_REGISTRY_URL: registry.origin })), logger: bed.logger });
    await publisher.connect();
    cleanup.push(() => publisher.disconnect());
    return { publisher, proxy };
  }

  async function published(topicName: string) {
    const topic = { ...priceUpdates, name: topicName };
    return (await bed.topics.decodeAll(topic, await bed.topics.count(topic))).map((r) => `${r.value.symbol}@${(r.value.eventTime - T0) / 60_000}`);
  }

  async function failThenRecover(source: PriceFeed, at: readonly [number, number, number], symbols: readonly string[]) {
    const topic = await bed.topics.create();
    const { publisher, proxy } = await publisherViaProxy();
    const producer = createPriceProducer({ config: bed.config, logger: bed.logger, publisher, topic, source, symbols, intervalMs: 60_000, maxStalenessMs: null });
    proxy.cut();
    await expect(producer.publishOnce(at[0])).rejects.toThrow(/registry/i);
    proxy.restore();
    const second = await producer.publishOnce(at[1]);
    const third = await producer.publishOnce(at[2]);
    return { second, third, records: await published(topic.name) };
  }

  it('synthetic: the bars of a failed tick are published by the next one, then only new bars', async () => {
    const now = T0 + 10 * 60_000 + 5_000; // the bar of minute 9 has ended
    const source = createSyntheticSource({ seed: 3, interval: '1m' }, { clock: () => now });
    const { second, third, records } = await failThenRecover(source, [now, now + 60_000, now + 90_000], ['AAPL', 'MSFT']);
    expect(second).toMatchObject({ fetched: 4, published: 4 }); // minute 9 again, and minute 10
    expect(third).toMatchObject({ fetched: 0, published: 0 }); // acknowledged: not again
    expect(records.sort()).toEqual(['AAPL@10', 'AAPL@9', 'MSFT@10', 'MSFT@9']);
  });

  it('file: the rows of a failed tick (and its rejected line) are read again, then the next rows', async () => {
    const path = join(bed.dir, 'bars.csv');
    const row = (i: number) => `AAPL,1m,${T0 + i * 60_000},100,101,99,100.5,${i + 1}`;
    writeFileSync(path, ['symbol,interval,ts,open,high,low,close,volume', row(0), row(1), 'AAPL,1m,x,1,2,0.5,1.5,9', row(2), row(3), row(4)].join('\n'));
    const source = createFileSource({ path, batchSize: 3 });
    const now = T0 + 3_600_000;
    const { second, third, records } = await failThenRecover(source, [now, now + 1000, now + 2000], []);
    expect(second).toEqual({ fetched: 3, published: 3, invalid: 0, rejected: 1 });
    expect(third).toEqual({ fetched: 2, published: 2, invalid: 0, rejected: 0 });
    expect(source.exhausted()).toBe(true);
    expect(records).toEqual(['AAPL@0', 'AAPL@1', 'AAPL@2', 'AAPL@3', 'AAPL@4']);
  });
});
