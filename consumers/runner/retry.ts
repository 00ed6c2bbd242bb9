// Retries of a batch's steps (decode, store write, dead-letter publish): a transient failure is retried forever with
// back-off, heartbeating between attempts; the batch gives up only when this member stops, loses the partition or
// learns that the group is rebalancing (StaleBatchError), never by skipping. An error nobody classified (lib/errors.ts
// retryClass: a bug in a sink, an unknown driver error) is retried too, but after `unknownAttempts` of the same one in a
// row the step fails with MemberFailedError: the member stops with that error instead of spinning.
import type { EachBatchPayload } from 'kafkajs';
import pRetry from 'p-retry';
import { MemberFailedError, StaleBatchError, errorMessage, isRetriable, retryClass } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { callHook, type RunnerHooks } from './hooks.ts';
import type { BatchMembership } from './membership.ts';

export interface RetryOptions {
  log: Logger; hooks?: RunnerHooks; sink: string; groupId: string;
  /** Cap of the back-off between attempts (SINK_RETRY_MAX_MS). */
  maxTimeoutMs: number;
  /** Attempts with the same unclassified error before giving up (SINK_UNKNOWN_ERROR_ATTEMPTS). */
  unknownAttempts: number;
}

/** The part of a kafkajs batch payload a retry reads: where the batch is, and whether it is still ours. */
export type RetriedBatch = Pick<EachBatchPayload, 'batch' | 'isRunning' | 'isStale'>;

/** Runs one step of batch `p`; `what` names it in the logs ("store write failed; …"). */
export type Retrying = <T>(what: string, p: RetriedBatch, member: BatchMembership, fn: () => Promise<T>) => Promise<T>;

/** p-retry never retries a TypeError (it takes one for a bug): carried past it as this, the count decides as for any unknown error. */
class CarriedTypeError extends Error {
  override readonly name = 'TypeError';
  readonly original: TypeError;
  constructor(original: TypeError) { super(original.message, { cause: original }); this.original = original; }
}

export function createRetrying(o: RetryOptions): Retrying {
  return (what, p, member, step) => {
    let same = { error: '', times: 0 };
    const fn = () => step().catch((err: unknown) => { throw err instanceof TypeError ? new CarriedTypeError(err) : err; });
    return pRetry(fn, {
      retries: Infinity, minTimeout: 200, maxTimeout: o.maxTimeoutMs, randomize: true, signal: member.signal,
      shouldRetry: ({ error }) => isRetriable(error),
      onFailedAttempt: async ({ error, attemptNumber }) => {
        if (!isRetriable(error)) return;
        const { topic, partition } = p.batch;
        if (retryClass(error) === 'unknown') {
          const message = `${error.name}: ${errorMessage(error)}`;
          same = same.error === message ? { error: message, times: same.times + 1 } : { error: message, times: 1 };
          if (same.times >= o.unknownAttempts) {
            throw new MemberFailedError(`${what} of ${topic}[${partition}] failed ${same.times} times in a row with an error nobody classified ` +
              `(${message}); the member stops`, error instanceof CarriedTypeError ? error.original : error);
          }
        } else {
          same = { error: '', times: 0 };
        }
        o.log.warn({ topic, partition, offset: p.batch.firstOffset(), err: errorMessage(error), attempt: attemptNumber },
          `${what} failed; pausing this partition and retrying`);
        callHook(o.hooks, o.log, 'onRetry', { sink: o.sink, groupId: o.groupId, topic, error, attempt: attemptNumber });
        if (!p.isRunning() || p.isStale()) throw new StaleBatchError();
        await member.heartbeat();
        if (member.rebalanced) throw new StaleBatchError('batch abandoned: the group is rebalancing');
      },
    });
  };
}
