// Dead letters of a batch: built from the raw record (its bytes, key and headers as read) with where it was read, and
// reported once published (a log line per record and the onDeadLetter hook).
import type { KafkaMessage } from 'kafkajs';
import { headersToStrings, RecordHeaders } from '../../lib/record-headers.ts';
import { errorClass, errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { DeadLetter } from '../../lib/publisher.ts';
import { callHook, type RunnerHooks } from './hooks.ts';

/** Where a batch was read, and by which group. */
export interface BatchOrigin { topic: string; partition: number; group: string }

export function deadLetter(origin: BatchOrigin, m: KafkaMessage, error: unknown): DeadLetter {
  return {
    key: m.key?.toString('utf8') ?? null, value: m.value, headers: headersToStrings(m.headers), error,
    origin: { topic: origin.topic, partition: origin.partition, offset: m.offset, group: origin.group, timestamp: m.timestamp },
  };
}

/** After `dead` was published to the DLQ: one warning per record, and the onDeadLetter hook. */
export function reportDeadLetters(dead: readonly DeadLetter[], o: { log: Logger; hooks?: RunnerHooks; sink: string; origin: BatchOrigin }): void {
  const { topic, partition, group } = o.origin;
  for (const x of dead) {
    const correlationId = x.headers?.[RecordHeaders.correlationId];
    const errClass = errorClass(x.error);
    o.log.warn({ topic, partition, offset: x.origin?.offset, key: x.key, correlationId, errClass, err: errorMessage(x.error) }, 'record sent to DLQ');
    callHook(o.hooks, o.log, 'onDeadLetter', { sink: o.sink, groupId: group, topic, reason: errClass });
  }
}
