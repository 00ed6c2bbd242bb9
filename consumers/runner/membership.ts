// Membership while a batch is in the runner's hands: heartbeats on a timer (slow writes, retries of a store that is
// down, the isolation of a rejected batch), and what they learn: that the group is rebalancing, so the batch must be
// abandoned (uncommitted) for this member to rejoin in time instead of being evicted. Plus the group joins themselves.
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { StaleBatchError } from '../../lib/errors.ts';

/** Heartbeats every tenth of the session timeout (kafkajs's own minimum spacing is the consumer's heartbeatInterval). */
export const heartbeatMs = (config: Pick<Config, 'KAFKA_SESSION_TIMEOUT_MS'>) => Math.max(500, Math.floor(config.KAFKA_SESSION_TIMEOUT_MS / 10));

/** Heartbeat answers that mean this member has to rejoin: the group is rebalancing, or this member is no longer in it. */
const REJOIN = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID']);

export const mustRejoin = (err: unknown): boolean => {
  const type = (err as { type?: unknown } | null)?.type;
  return typeof type === 'string' && REJOIN.has(type);
};

/** One batch's hold on the group, from its fetch until its write ended. */
export interface BatchMembership {
  /** Aborted when this member stops or a heartbeat learnt that the group is rebalancing: retries give up. */
  readonly signal: AbortSignal;
  /** A heartbeat of this batch learnt that the group is rebalancing (a member joined or left). */
  readonly rebalanced: boolean;
  /** One heartbeat; an answer that means "rejoin" marks the batch rebalanced, any other failure is ignored. */
  heartbeat(): Promise<void>;
  /** Heartbeats every `heartbeatMs` until the returned function is called. */
  keepAlive(): () => void;
  /** Whether `err` (or the state of this member) means the batch was abandoned rather than failed. */
  abandoned(err: unknown): boolean;
}

/**
 * Membership of the batch `p`: `stopping` aborts when this member stops for good (the batch is then abandoned too).
 * Whoever owns the partition after an abandoned batch reads it again from the last commit.
 */
export function batchMembership(p: Pick<EachBatchPayload, 'heartbeat'>, stopping: AbortSignal, everyMs: number): BatchMembership {
  const rebalance = new AbortController();
  const heartbeat = async () => {
    try {
      await p.heartbeat();
    } catch (err) {
      if (mustRejoin(err)) rebalance.abort();
    }
  };
  return {
    signal: AbortSignal.any([stopping, rebalance.signal]),
    get rebalanced() { return rebalance.signal.aborted; },
    heartbeat,
    keepAlive() {
      const timer = setInterval(() => { void heartbeat(); }, everyMs);
      return () => clearInterval(timer);
    },
    abandoned: (err) => err instanceof StaleBatchError || stopping.aborted || rebalance.signal.aborted,
  };
}

export interface GroupJoin {
  at: number;
  /** How many partitions the member got, and which (topic → partitions). */
  partitions: number;
  assignment: Readonly<Record<string, readonly number[]>>;
  isLeader: boolean;
}

/** How many partitions an assignment (topic → partitions) holds. */
export const partitionsIn = (assignment: Record<string, readonly number[]>): number => Object.values(assignment).reduce((n, ps) => n + ps.length, 0);

/** Calls `joined` each time this member joins its group: at start, and again after every rebalance. */
export function onGroupJoin(consumer: Pick<Consumer, 'on' | 'events'>, joined: (e: GroupJoin) => void): void {
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const assignment = e.payload.memberAssignment;
    joined({ at: e.timestamp, partitions: partitionsIn(assignment), assignment, isLeader: e.payload.isLeader });
  });
}
