// The log both replay suites rewind: six symbols over the topic's partitions, five bars each, then (after `pauseMs`
// on each side of `between`, the time a replay `--to-datetime` aims at) three more each; a random group id.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, randomName, randomSymbol } from '../helpers/index.ts';

export async function publishReplayLog(kafka: Kafka, config: Config, logger: Logger, o: { name: string; pauseMs: number }) {
  const topic = withName(priceUpdates, randomName(o.name));
  const groupId = randomName(`${o.name}-group`);
  await ensureTopics(kafka, config, [topic]);
  const publisher = createPublisher({ kafka, serde: createSerde(config), logger });
  await publisher.connect();
  const symbols = Array.from({ length: 6 }, randomSymbol);
  const firstBatch = symbols.flatMap((s) => [0, 1, 2, 3, 4].map((i) => bar(s, i, 100 + i)));
  const secondBatch = symbols.flatMap((s) => [5, 6, 7].map((i) => bar(s, i, 100 + i)));
  await publisher.send(topic, firstBatch, { source: 'test' });
  await sleep(o.pauseMs);
  const between = Date.now();
  await sleep(o.pauseMs);
  await publisher.send(topic, secondBatch, { source: 'test' });
  return { topic, groupId, publisher, firstBatch, secondBatch, between };
}
