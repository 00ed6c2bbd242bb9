// Commit bookkeeping: offsets are committed only after their batch was written (or dead-lettered). Inline mode commits
// each batch as it ends. Pipelined mode coalesces: offsets of written batches wait up to SINK_COMMIT_INTERVAL_MS and
// go in one OffsetCommit for all of the member's partitions (at 1,000 records/s a commit per batch would be hundreds
// a second), sent one at a time, in order. A commit that fails (the group is rebalancing, this member left) is tried
// again on the timer unless a newer offset replaced it; meanwhile the records would be read again, and writing them
// again changes nothing. A coalescer belongs to one assignment (./assignment.ts): when that ends, what waits is dropped.
import type { EachBatchPayload } from 'kafkajs';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';

/** What commits go through: a batch payload of this member (kafkajs commits for the member's current generation). */
export type CommitVia = Pick<EachBatchPayload, 'commitOffsetsIfNecessary'>;

type Committed = Pick<EachBatchPayload, 'batch' | 'resolveOffset'> & CommitVia;

/** The offset to commit past a batch: the one after its last. */
export const nextOffset = (batch: Pick<EachBatchPayload['batch'], 'lastOffset'>): string => (BigInt(batch.lastOffset()) + 1n).toString();

/** Inline mode: resolves the batch's last offset and commits just past it, now. */
export async function commitPast(p: Committed): Promise<void> {
  const { topic, partition } = p.batch;
  p.resolveOffset(p.batch.lastOffset());
  await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: nextOffset(p.batch) }] }] });
}

export interface CommitCoalescer {
  /** `offset` of `topic`/`partition` was written: commit it within the interval (a later offset replaces it). */
  add(via: CommitVia, topic: string, partition: number, offset: string): void;
  /** Sends what waits now, after the commits sent before; resolves when it was sent (or failed, and was kept). */
  flush(): Promise<void>;
  /**
   * Runs `commit` (a Kafka transaction that commits `topic`/`partition`'s offset itself, with the batch's dead letters)
   * after the commits sent before, in place of the offset waiting for that partition (the transaction's is newer), so
   * no commit of an older offset of it can land after. `fence` is true for the first of the partition in this
   * assignment (until one succeeded). Resolves to undefined, without running it, once the assignment has ended.
   */
  transact<R>(topic: string, partition: number, commit: (fence: boolean) => Promise<R>): Promise<R | undefined>;
  /**
   * The assignment these offsets belong to ended (the member joined again, or left): what waits is dropped and nothing
   * more is sent, since kafkajs would send it under the new generation, over the new owner's commits. A commit already
   * on its way carries the old generation: the broker takes it only while that generation stands.
   */
  end(): void;
}

export function createCommitCoalescer(o: { intervalMs: number; log: Logger }): CommitCoalescer {
  const toCommit = new Map<string, { topic: string; partition: number; offset: string }>();
  let via: CommitVia | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let commits: Promise<void> = Promise.resolve();
  const fenced = new Set<string>();
  const schedule = () => { timer ??= setTimeout(() => { timer = undefined; void flush(); }, o.intervalMs); };
  const send = async () => {
    const through = via;
    if (ended || !toCommit.size || !through) return;
    const taken = [...toCommit];
    toCommit.clear();
    try {
      await through.commitOffsetsIfNecessary({ topics: byTopic(taken.map(([, c]) => c)) });
    } catch (err) {
      if (ended) return;
      for (const [k, c] of taken) if (!toCommit.has(k)) toCommit.set(k, c);
      // Tried again on the timer, so an idle partition's last offsets are committed too (its lag reaches 0).
      schedule();
      o.log.debug({ err: errorMessage(err), partitions: taken.length }, 'commit after the write failed; tried again');
    }
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    commits = commits.then(send);
    return commits;
  };
  return {
    add(through, topic, partition, offset) {
      if (ended) return;
      toCommit.set(`${topic}|${partition}`, { topic, partition, offset });
      via = through;
      schedule();
    },
    flush,
    transact(topic, partition, commit) {
      const key = `${topic}|${partition}`;
      const run = commits.then(async () => {
        if (ended) return undefined;
        toCommit.delete(key);
        const r = await commit(!fenced.has(key));
        fenced.add(key);
        return r;
      });
      commits = run.then(() => undefined, () => undefined);
      return run;
    },
    end() {
      ended = true;
      clearTimeout(timer);
      timer = undefined;
      toCommit.clear();
    },
  };
}

/** Offsets grouped by topic, as OffsetCommit takes them (topics and partitions in the order given). */
function byTopic(offsets: readonly { topic: string; partition: number; offset: string }[]) {
  return [...new Set(offsets.map((c) => c.topic))].map((topic) => ({
    topic, partitions: offsets.filter((c) => c.topic === topic).map((c) => ({ partition: c.partition, offset: c.offset })),
  }));
}
