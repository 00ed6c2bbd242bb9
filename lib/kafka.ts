// One place that builds kafkajs clients from configuration (brokers, TLS, SASL), with kafkajs logs routed to pino, and
// clients that ride out a broker that is down but not yet replaced (see rideOutBrokerLoss).
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type ConsumerConfig, type KafkaConfig, type ProducerConfig, type RetryOptions,
  type SASLOptions, type Producer } from 'kafkajs';
import type { Config } from './config.ts';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * `opts` replaces the client's retry settings and request timeout (a fault test shortens them, so that kafkajs gives up and the publisher's own retries must do
 * the rest).
 */
export function createKafka(config: Config, logger: Logger, clientSuffix = '', opts: { retry?: RetryOptions; requestTimeout?: number } = {}): Kafka {
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
    ...(opts.requestTimeout === undefined ? {} : { requestTimeout: opts.requestTimeout }),
    retry: opts.retry ?? { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, log }) => {
      const { message: logged, ...extra } = log as { message: unknown; [key: string]: unknown };
      // kafkajs logs a few errors as the message itself (brokerPool): the error becomes `error`, its text the message.
      const message = typeof logged === 'string' ? logged : logged instanceof Error ? logged.message : String(logged);
      if (logged instanceof Error && extra.error === undefined) extra.error = logged;
      const { level: lvl, routine } = kafkajsLogLevel(level, message, extra);
      logger[lvl]({ kafkajs: namespace, ...extra, ...(routine ? { kafkaError: routine } : {}) }, message);
    },
  };
  return rideOutBrokerLoss(new Kafka(kafkaConfig), logger);
}

/**
 * How long a client call keeps trying while a broker cannot be reached: the cluster replaces a dead leader once the
 * controller fences it (broker.session.timeout.ms, 9 s by default, then the election), so 30 s leaves room. The kafkajs
 * retries above (8, from 200 ms, at most 10 s apart) add up to about as much.
 */
export const BROKER_LOSS_BUDGET_MS = 30_000;

const CONNECTION_ERRORS: ReadonlySet<string> = new Set([
  'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSNoBrokerAvailableError',
]);

/**
 * Answers of a broker that is no longer (or not yet) the one to ask: leadership moved after a broker died, or a new
 * topic's leader is still being elected; or a broker that does not know a topic created a moment ago yet (its metadata
 * lags the controller's: seen on a 3-broker cluster with one broker dead, a command's topics just created). The
 * metadata is refreshed and the call made again; a topic that really does not exist still fails, after the budget.
 */
const LEADERSHIP_ERRORS: ReadonlySet<string> = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_CONTROLLER',
  'UNKNOWN_TOPIC_OR_PARTITION']);

/**
 * A broker could not be reached, closed the connection, did not answer, or is not the leader any more (the error
 * itself or one in its cause chain, or in a kafkajs aggregate).
 */
export function isConnectionError(err: unknown): boolean {
  return someKafkaError(err, (x) => CONNECTION_ERRORS.has(String(x.name)) || LEADERSHIP_ERRORS.has(String(x.type)));
}

/** Whether `err`, an error in its cause chain, or one gathered in a kafkajs aggregate (`errors`) passes `test`. */
export function someKafkaError(err: unknown, test: (e: { name?: unknown; type?: unknown }) => boolean): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { name?: unknown; type?: unknown; errors?: unknown };
    if (test(x)) return true;
    if (Array.isArray(x.errors) && x.errors.some((inner) => someKafkaError(inner, test))) return true;
  }
  return false;
}

/**
 * Calls `fn` again while it fails with a connection error, up to `budgetMs` after the first call began (pauses of 250 ms
 * doubling to 2 s). kafkajs retries a send on a connection error, but many of its calls give up at the first one: a
 * metadata request sent to a broker of the pool that is down (brokerPool.withBroker), an admin request to a dead
 * leader or controller (listOffsets, describeConfigs, createTopics). Until the cluster moves the dead broker's
 * leaderships, the metadata still names it, so a command started then would fail at once without this.
 */
export async function retryOnConnectionError<T>(fn: () => Promise<T>, o: { what: string; logger: Logger; budgetMs?: number }): Promise<T> {
  const deadline = Date.now() + (o.budgetMs ?? BROKER_LOSS_BUDGET_MS);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const pause = Math.min(2000, 250 * 2 ** (attempt - 1));
      if (!isConnectionError(err) || Date.now() + pause > deadline) throw err;
      o.logger[attempt === 1 ? 'warn' : 'debug']({ call: o.what, attempt, err: errorMessage(err) },
        'a broker cannot be reached (down, its partitions not yet moved); trying again');
      await sleep(pause);
    }
  }
}

/** `client` with the named methods called through retryOnConnectionError (the others as they are). */
function retrying<C extends object>(client: C, methods: (name: string) => boolean, kind: string, logger: Logger, budgetMs?: number): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof value !== 'function' || !methods(prop)) return value;
      return (...args: unknown[]) => retryOnConnectionError(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
        { what: `${kind}.${prop}`, logger, ...(budgetMs === undefined ? {} : { budgetMs }) });
    },
  });
}

/** Admin calls that are not requests (or must not be repeated): called as they are. */
const ADMIN_AS_IS: ReadonlySet<string> = new Set(['disconnect', 'on', 'logger']);

/**
 * The client with every admin request, and the connect of producers and consumers (and a consumer's subscribe, which
 * reads metadata), retried on connection errors for `budgetMs`. Sends need nothing more: kafkajs retries them itself
 * on connection errors, refreshing the metadata, until the new leader answers.
 */
export function rideOutBrokerLoss(kafka: Kafka, logger: Logger, budgetMs?: number): Kafka {
  const log = logger.child({ component: 'kafka' });
  return new Proxy(kafka, {
    get(target, prop, receiver) {
      if (prop === 'admin') {
        return (...args: Parameters<Kafka['admin']>): Admin => retrying(target.admin(...args), (m) => !ADMIN_AS_IS.has(m), 'admin', log, budgetMs);
      }
      if (prop === 'producer') {
        return (config?: ProducerConfig): Producer => retrying(target.producer(config), (m) => m === 'connect', 'producer', log, budgetMs);
      }
      if (prop === 'consumer') {
        return (config: ConsumerConfig): Consumer =>
          retrying(target.consumer(config), (m) => m === 'connect' || m === 'subscribe', 'consumer', log, budgetMs);
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * kafkajs protocol errors that are routine while a broker starts, a partition elects its leader or a group's
 * coordinator loads or moves: kafkajs retries them (type, code and message as in kafkajs/src/protocol/error.js;
 * GROUP_LOAD_IN_PROGRESS is the Java client's COORDINATOR_LOAD_IN_PROGRESS).
 */
export const ROUTINE_KAFKA_ERRORS = [
  { type: 'LEADER_NOT_AVAILABLE', code: 5, message: 'There is no leader for this topic-partition as we are in the middle of a leadership election' },
  { type: 'NOT_LEADER_FOR_PARTITION', code: 6, message: 'This server is not the leader for that topic-partition' },
  { type: 'GROUP_LOAD_IN_PROGRESS', code: 14, message: "The coordinator is loading and hence can't process requests for this group" },
  { type: 'GROUP_COORDINATOR_NOT_AVAILABLE', code: 15, message: 'The group coordinator is not available' },
  { type: 'NOT_COORDINATOR_FOR_GROUP', code: 16, message: 'This is not the correct coordinator for this group' },
] as const;

/**
 * What a group's coordinator answers a member while the group rebalances (a member joined or left): kafkajs logs the
 * answer to a heartbeat, commit or sync as an error (`Response Heartbeat(…)`), then rejoins on its own. Routine in
 * such a response entry; kafkajs's own notices about rebalancing keep their level.
 */
export const REBALANCE_RESPONSES = [
  { type: 'ILLEGAL_GENERATION', code: 22, message: 'Specified group generation id is not valid' },
  { type: 'REBALANCE_IN_PROGRESS', code: 27, message: 'The group is rebalancing, so a rejoin is needed' },
] as const;

export type PinoLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * The pino level of a kafkajs log entry. Routine retries (ROUTINE_KAFKA_ERRORS) and a coordinator's answers while the
 * group rebalances (REBALANCE_RESPONSES, in a `Response <api>` entry) go to debug: by the error's type or
 * code when the entry carries the error object (`extra.error`, or its cause), by the error's text only when it carries
 * no code (kafkajs mostly logs `error: e.message`, or the text in the message itself). A consumer crash caused by one
 * (retries exhausted; kafkajs restarts the consumer) stays visible as a warning. `routine` names the error type.
 */
export function kafkajsLogLevel(level: number, message: string, extra: Record<string, unknown> = {}): { level: PinoLevel; routine?: string } {
  const base: PinoLevel = level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : level === logLevel.INFO ? 'info' : 'debug';
  // Bounded producer retries are deliberate (a tick fails and is retried on the next one instead of hanging).
  if (message.startsWith('Limiting retries for the idempotent producer')) return { level: 'debug' };
  if (base !== 'error' && base !== 'warn') return { level: base };
  const routine = knownKafkaError(ROUTINE_KAFKA_ERRORS, extra.error, message);
  if (routine) return { level: message.startsWith('Crash:') ? 'warn' : 'debug', routine };
  const rebalance = message.startsWith('Response ') ? knownKafkaError(REBALANCE_RESPONSES, extra.error, message) : undefined;
  return rebalance ? { level: 'debug', routine: rebalance } : { level: base };
}

/** The type of `known` that the entry's error is: by its type or code when it carries one, else by kafkajs's text. */
function knownKafkaError(known: ReadonlyArray<{ type: string; code: number; message: string }>, error: unknown, message: string): string | undefined {
  // The error object, or one in its cause chain, with a protocol type or code: decides on its own.
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { type, code } = e as { type?: unknown; code?: unknown };
    if (typeof type === 'string' || typeof code === 'number') {
      return known.find((r) => (typeof type === 'string' ? r.type === type : r.code === code))?.type;
    }
  }
  // No code anywhere: the text kafkajs gives each protocol error.
  const text = `${typeof error === 'string' ? error : error instanceof Error ? error.message : ''}\n${message}`;
  return known.find((r) => text.includes(r.message))?.type;
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
