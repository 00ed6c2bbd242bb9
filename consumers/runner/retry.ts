// Retries of a batch's steps (decode, store write, dead-letter publish): a retriable failure is retried forever with
// back-off, heartbeating between attempts; the batch gives up only when this member stops, loses the partition or
// learns that the group is rebalancing (StaleBatchError), never by skipping.
import type { EachBatchPayload } from 'kafkajs';
import pRetry from 'p-retry';
import { StaleBatchError, errorMessage, isRetriable } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { callHook, type RunnerHooks } from './hooks.ts';
import type { BatchMembership } from './membership.ts';

export interface RetryOptions {
  log: Logger; hooks?: RunnerHooks; sink: string; groupId: string;
  /** Cap of the back-off between attempts (SINK_RETRY_MAX_MS). */
  maxTimeoutMs: number;
}

/** The part of a kafkajs batch payload a retry reads: where the batch is, and whether it is still ours. */
export type RetriedBatch = Pick<EachBatchPayload, 'batch' | 'isRunning' | 'isStale'>;

/** Runs one step of batch `p`; `what` names it in the logs ("store write failed; …"). */
export type Retrying = <T>(what: string, p: RetriedBatch, member: BatchMembership, fn: () => Promise<T>) => Promise<T>;

export function createRetrying(o: RetryOptions): Retrying {
  return (what, p, member, fn) => pRetry(fn, {
    retries: Infinity, minTimeout: 200, maxTimeout: o.maxTimeoutMs, randomize: true, signal: member.signal,
    shouldRetry: ({ error }) => isRetriable(error),
    onFailedAttempt: async ({ error, attemptNumber }) => {
      if (!isRetriable(error)) return;
      const { topic, partition } = p.batch;
      o.log.warn({ topic, partition, offset: p.batch.firstOffset(), err: errorMessage(error), attempt: attemptNumber },
        `${what} failed; pausing this partition and retrying`);
      callHook(o.hooks, o.log, 'onRetry', { sink: o.sink, groupId: o.groupId, topic, error, attempt: attemptNumber });
      if (!p.isRunning() || p.isStale()) throw new StaleBatchError();
      await member.heartbeat();
      if (member.rebalanced) throw new StaleBatchError('batch abandoned: the group is rebalancing');
    },
  });
}
