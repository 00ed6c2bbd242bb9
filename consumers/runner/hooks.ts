// What the runner tells its observers (group monitor, metrics, bench), and the one way it calls them: a hook that
// throws or rejects is logged and ignored, so observability never fails a batch.
import type { Consumer } from 'kafkajs';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { BarOfRecord, SinkRecord, Sink } from '../types.ts';

export interface RunnerHooks {
  /** start() was called: this member exists (not yet connected to its store nor joined). For readiness, lag and /health. */
  onMember?(e: { sink: Sink; groupId: string; topics: readonly string[]; consumer: Consumer }): void;
  /**
   * After a batch was written (and its bad records dead-lettered), before its offsets are committed.
   * `records` counts the whole batch; `timestamps` only the records written to the store.
   */
  onWritten?(e: {
    sink: string; groupId: string; topic: string; partition: number; records: number; timestamps: number[];
    receivedAt: number; writtenAt: number; writeMs: number;
    /** Writes the store refused as older than what it holds (WriteResult.stale). */
    stale?: number;
    /**
     * On a topic of bars (TopicHandler.barOf): the newest bar of each series among the records written. A record the
     * store refused as stale counts too: the store then holds that bar or a newer one.
     */
    bars?: BarOfRecord[];
  }): void;
  /** This member joined its group (again, after a rebalance) and got its partitions. */
  onGroupJoin?(e: { sink: string; groupId: string; at: number; partitions: number }): void;
  onDeadLetter?(e: { sink: string; groupId: string; topic: string; reason: string }): void;
  onRetry?(e: { sink: string; groupId: string; topic: string; error: unknown; attempt: number }): void;
}

type HookEvent<K extends keyof RunnerHooks> = Parameters<NonNullable<RunnerHooks[K]>>[0];

/** Calls a hook if set; a hook that throws (or rejects) is logged and ignored: observability never fails a batch. */
export function callHook<K extends keyof RunnerHooks>(hooks: RunnerHooks | undefined, log: Logger, name: K, e: HookEvent<K>): void {
  const warn = (err: unknown) => log.warn({ hook: name, err: errorMessage(err) }, `runner hook ${name} threw; ignored`);
  const fn = hooks?.[name] as ((e: HookEvent<K>) => unknown) | undefined;
  if (!fn) return;
  try {
    const r = fn.call(hooks, e);
    if (r instanceof Promise) r.catch(warn);
  } catch (err) {
    warn(err);
  }
}

/** The newest bar (latest event time) per symbol and interval among `records`. */
export function newestBars<T>(records: readonly SinkRecord<T>[], barOf: (value: T) => BarOfRecord | null): BarOfRecord[] {
  const newest = new Map<string, BarOfRecord>();
  for (const r of records) {
    const b = r.value === null ? null : barOf(r.value);
    if (!b) continue;
    const k = `${b.symbol}\u0000${b.interval}`;
    const had = newest.get(k);
    if (!had || b.eventTime >= had.eventTime) newest.set(k, b);
  }
  return [...newest.values()];
}
