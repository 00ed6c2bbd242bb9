// The member's assignment: the partitions kafkajs gave it at its last group join, and everything a batch fetched under
// it does afterwards. kafkajs builds a new OffsetManager per generation for the same reason; this is the runner's
// counterpart. A batch is written through its assignment's write slots and committed through its coalescer. When the
// member joins again (a rebalance, a restart of the kafkajs consumer, an eviction) or crashes, the assignment ends:
// its writes still in flight neither commit nor seek back, its waiting commits are dropped (kafkajs would send them
// under the new generation, over the new owner's), and the next assignment's first write of a partition it keeps
// waits until the old write of it ended. The store refuses what such a write would put over a newer value (versions).
import type { Logger } from '../../lib/logger.ts';
import { createCommitCoalescer, type CommitCoalescer } from './commits.ts';
import { createWriteSlots, type WriteSlots } from './write-slots.ts';

export interface Assignment {
  /** Counts this member's joins: 0 before the first (a handler driven without a broker holds every partition then). */
  readonly generation: number;
  /** Still the member's assignment: it has not joined again since, nor crashed. */
  readonly current: boolean;
  /** Whether `topic`/`partition` is assigned to the member in this assignment. */
  holds(topic: string, partition: number): boolean;
  readonly slots: WriteSlots;
  readonly commits: CommitCoalescer;
}

export interface Assignments {
  current(): Assignment;
  /**
   * The member joined its group and got `partitions` (topic → partitions; kafkajs's GROUP_JOIN). Must be called
   * synchronously from the event, which kafkajs emits right after it made the new generation's OffsetManager: no commit
   * of the old assignment can slip through under the new generation.
   */
  joined(partitions: Readonly<Record<string, readonly number[]>>): Assignment;
  /** The member left its group (kafkajs crashed, or the member stops): the current assignment ends, none replaces it yet. */
  left(): void;
  /** Resolves once the writes of every assignment so far have ended. */
  drain(): Promise<void>;
}

export function createAssignments(o: { commitIntervalMs: number; log: Logger }): Assignments {
  let generation = 0;
  let now = make(undefined, undefined);
  const draining = new Set<WriteSlots>();

  function make(partitions: Readonly<Record<string, readonly number[]>> | undefined, previous: WriteSlots | undefined): Assignment & { end(): void } {
    const held = partitions && new Set(Object.entries(partitions).flatMap(([t, ps]) => ps.map((p) => `${t}|${p}`)));
    const commits = createCommitCoalescer({ intervalMs: o.commitIntervalMs, log: o.log });
    let ended = false;
    return {
      generation,
      get current() { return !ended; },
      holds: (topic, partition) => !held || held.has(`${topic}|${partition}`),
      slots: createWriteSlots(previous),
      commits,
      end() { ended = true; commits.end(); },
    };
  }

  const retire = () => {
    now.end();
    const { slots } = now;
    draining.add(slots);
    void slots.drain().then(() => draining.delete(slots));
    return slots;
  };

  return {
    current: () => now,
    joined(partitions) {
      const previous = retire();
      generation++;
      now = make(partitions, previous);
      return now;
    },
    left() {
      if (!now.current) return;
      const previous = retire();
      now = make({}, previous);
      now.end();
    },
    async drain() {
      await Promise.all([now.slots.drain(), ...[...draining].map((s) => s.drain())]);
      await now.commits.flush();
    },
  };
}
