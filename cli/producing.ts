// What the producing commands (produce prices|events|graph|correlations) do around their producer: observability,
// the topics, a connected and instrumented publisher; then run until the producer ends by itself (--count, the end of
// a file) or SIGINT/SIGTERM stops it after the tick in flight, and close everything in order.
import type { Kafka } from 'kafkajs';
import type { Config } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { createPublisher, type Publisher } from '../lib/publisher.ts';
import { createSerde, type Serde } from '../lib/serde.ts';
import { ensureTopics } from '../topics/admin.ts';
import type { Job } from '../producers/catalog.ts';
import { stopOnSignal } from './lifecycle.ts';
import { startObservability, type Observability } from './observability.ts';

/** Observability for `command`, the topics created if missing, a connected publisher whose sends are counted, its Kafka and serde. */
export async function openPublishing(
  o: { config: Config; logger: Logger; command: string; clientId: string },
): Promise<{ obs: Observability; publisher: Publisher; kafka: Kafka; serde: Serde }> {
  const { config, logger } = o;
  const obs = await startObservability({ config, logger, command: o.command });
  const kafka = createKafka(config, logger, o.clientId);
  await ensureTopics(kafka, config);
  const serde = createSerde(config);
  const publisher = obs.instrumentPublisher(createPublisher({ kafka, serde, logger }));
  await publisher.connect();
  return { obs, publisher, kafka, serde };
}

/** Runs `job` (once, or until it ends or a signal stops it); then closes the job, the publisher and observability. */
export async function runUntilStopped(o: {
  config: Config; logger: Logger; obs: Observability; publisher: Publisher; job: Job; once?: boolean;
}): Promise<void> {
  const { obs, job } = o;
  obs.started();
  try {
    if (o.once && job.runOnce) await job.runOnce();
    else await Promise.race([job.start(), stopOnSignal(o.logger, async () => { obs.stopping(); await job.stop(); }, o.config.SHUTDOWN_GRACE_SECONDS * 1000)]);
  } finally {
    obs.stopping();
    await job.close();
    await o.publisher.disconnect();
    await obs.close();
  }
}
