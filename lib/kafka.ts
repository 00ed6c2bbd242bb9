// One place that builds kafkajs clients from configuration (brokers, TLS, SASL), with kafkajs logs routed to pino.
import { Kafka, logLevel, Partitioners, type KafkaConfig, type SASLOptions, type Producer } from 'kafkajs';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export function createKafka(config: Config, logger: Logger, clientSuffix = ''): Kafka {
  silenceKnownKafkajsWarning();
  const sasl: SASLOptions | undefined = config.KAFKA_SASL_MECHANISM === 'none'
    ? undefined
    : { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME, password: config.KAFKA_SASL_PASSWORD } as SASLOptions;
  const kafkaConfig: KafkaConfig = {
    clientId: clientSuffix ? `${config.KAFKA_CLIENT_ID}-${clientSuffix}` : config.KAFKA_CLIENT_ID,
    brokers: [...config.KAFKA_BROKERS],
    ssl: config.KAFKA_SSL,
    sasl,
    connectionTimeout: 5000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, log }) => {
      const { message, ...extra } = log;
      // Bounded producer retries are deliberate (a tick fails and is retried on the next one instead of hanging).
      const expected = message.startsWith('Limiting retries for the idempotent producer');
      const lvl = expected ? 'debug' : level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : level === logLevel.INFO ? 'info' : 'debug';
      logger[lvl]({ kafkajs: namespace, ...extra }, message);
    },
  };
  return new Kafka(kafkaConfig);
}

/**
 * Idempotent producer: acks from all in-sync replicas, no duplicates on retry, per-partition order kept.
 * Keys are partitioned with murmur2 like the Java client, so every client agrees on a symbol's partition.
 */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
}

let silenced = false;
/**
 * kafkajs 2.2.4 schedules a timer with a negative delay on every connection (tulios/kafkajs#1751), which Node ≥ 23
 * reports as a TimeoutNegativeWarning; Node clamps it to 1 ms, as kafkajs intended. Only that warning is dropped.
 */
export function silenceKnownKafkajsWarning(): void {
  if (silenced) return;
  silenced = true;
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'TimeoutNegativeWarning') return;
    for (const print of printers) print(w);
  });
}
