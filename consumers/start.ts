// Starts sink groups in this process: shared Kafka client, serde and DLQ publisher; N members per group.
import { createKafka } from '../lib/kafka.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { createPublisher } from '../lib/publisher.ts';
import { createSerde } from '../lib/serde.ts';
import { ensureTopics } from '../topics/admin.ts';
import { configuredSinkTopics, groupIdOf, sinks, type SinkName } from './catalog.ts';
import type { SinkTopics } from './types.ts';
import { createSinkRunner, type RunnerHooks, type SinkRunner } from './runner.ts';

export interface RunningSinks {
  readonly runners: readonly SinkRunner[];
  /** Settles when a member stopped for good on its own (SinkRunner.failed): the process should stop and exit non-zero. */
  readonly failed: Promise<Error>;
  /** True when every member stopped in time (SinkRunner.stop). */
  stop(): Promise<boolean>;
}

export async function startSinks(
  o: { config: Config; logger: Logger; names: readonly SinkName[]; instances?: number; hooks?: RunnerHooks; topics?: SinkTopics },
): Promise<RunningSinks> {
  const kafka = createKafka(o.config, o.logger, 'sinks');
  // Overrides name some topics (isolated ones in tests and benchmarks); the others are the configured ones, created too.
  const topics = { ...configuredSinkTopics(o.config), ...o.topics };
  await ensureTopics(kafka, o.config, o.topics ? Object.values(topics) : undefined);
  const serde = createSerde(o.config);
  const publisher = createPublisher({ kafka, serde, logger: o.logger });
  await publisher.connect();
  const runners: SinkRunner[] = [];
  for (const name of o.names) {
    for (let i = 0; i < (o.instances ?? 1); i++) {
      const sink = sinks[name].create(o.config, { topics, publisher, logger: o.logger });
      runners.push(createSinkRunner({
        kafka, serde, publisher, logger: o.logger.child({ member: i }), config: o.config, sink, groupId: groupIdOf(o.config, name), hooks: o.hooks,
      }));
    }
  }
  await Promise.all(runners.map((r) => r.start()));
  return {
    runners,
    failed: Promise.race(runners.map((r) => r.failed)),
    async stop() {
      const clean = await Promise.all(runners.map((r) => r.stop()));
      await publisher.disconnect();
      return clean.every(Boolean);
    },
  };
}
