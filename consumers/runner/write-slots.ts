// The per-partition write order of the pipelined mode: a batch is handed to its partition's slot and eachBatch
// returns, so the next fetch runs while the store writes. A batch's write starts only after the one before it on the
// same partition ended well: at most one write per partition at a time, in offset order. When the one before was
// abandoned or failed, the partition is fetched again from the first unwritten offset (a seek back).
import type { EachBatchPayload } from 'kafkajs';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';

/** How a batch's write ended: written and committed (`ok`), abandoned (member stopping, group rebalancing), or `error`. */
export interface Outcome { ok: boolean; error?: unknown }

export interface WriteSlots {
  /**
   * Waits for the write handed off before on this partition. True: this batch may be written. False: that write was
   * abandoned (its partition is being fetched again from its first offset): drop this batch. Throws that write's error
   * when it failed (as if this batch had failed: kafkajs restarts from the last commit). Either way the slot is freed.
   */
  turn(topic: string, partition: number): Promise<boolean>;
  /** `write` is the partition's write now; the next batch of the partition waits for it. */
  handOff(topic: string, partition: number, write: Promise<Outcome>): void;
  /** Resolves once every write handed off so far has ended. */
  drain(): Promise<void>;
  /** Resolves once the write last handed off on this partition has ended, however it ended. */
  ended(topic: string, partition: number): Promise<void>;
}

/**
 * The write slots of one assignment. `previous`: those of the assignment before (this member joined again); a
 * partition kept across the rejoin is written again only once the old assignment's write of it ended (its outcome is
 * that assignment's business: it neither commits nor seeks any more), so this member never writes a partition twice at once.
 */
export function createWriteSlots(previous?: Pick<WriteSlots, 'ended' | 'drain'>): WriteSlots {
  const inFlight = new Map<string, Promise<Outcome>>();
  let before = previous;
  void previous?.drain().then(() => { before = undefined; }); // not held on to once its writes are over
  const slot = (topic: string, partition: number) => `${topic}|${partition}`;
  return {
    async turn(topic, partition) {
      const key = slot(topic, partition);
      if (before && !inFlight.has(key)) await before.ended(topic, partition);
      const last = await inFlight.get(key);
      if (!last || last.ok) return true;
      inFlight.delete(key);
      if (last.error) throw last.error;
      return false;
    },
    handOff(topic, partition, write) { inFlight.set(slot(topic, partition), write); },
    async drain() { await Promise.all(inFlight.values()); },
    async ended(topic, partition) { await inFlight.get(slot(topic, partition)); },
  };
}

/** Fetch `topic`/`partition` again from `offset` (kafkajs `consumer.seek`). */
export type Seek = (topic: string, partition: number, offset: string) => void;

/**
 * A batch handed off (the fetch position is already past it) whose write did not end well: fetch it again from its
 * first offset, unless this member is stopping (then whoever owns the partition next reads it from the last commit).
 * False when the seek itself failed: the caller then fails the partition, and kafkajs restarts from the last commit.
 */
export function seekBack(p: Pick<EachBatchPayload, 'batch' | 'isRunning'>, o: { stopping: AbortSignal; seek?: Seek; log: Logger }): boolean {
  const { topic, partition } = p.batch;
  try {
    if (!o.stopping.aborted && p.isRunning()) o.seek?.(topic, partition, p.batch.firstOffset()!);
    return true;
  } catch (err) {
    o.log.warn({ topic, partition, err: errorMessage(err) }, 'could not seek back to an unwritten batch; the consumer restarts from the last commit');
    return false;
  }
}

/**
 * Seeks this member asked kafkajs for, until a batch shows that kafkajs applied them. kafkajs applies a seek at the
 * partition's next fetch; when the partition moves to another member first, kafkajs keeps the seek and applies it when
 * the partition comes back, generations later, rewinding past what the group committed meanwhile (or, past retention,
 * replaying the partition from its start). Such a seek must not decide where the partition is read from.
 */
export interface SeekLog {
  /** This member sought `topic`/`partition` under assignment `generation`. */
  sought(topic: string, partition: number, generation: number): void;
  /**
   * A batch of `topic`/`partition` arrived (not stale) under assignment `generation`, so any seek of it was applied.
   * True when that seek was asked under an older assignment: the batch is read from it, and must be dropped and the
   * partition read again from the group's commit.
   */
  arrived(topic: string, partition: number, generation: number): boolean;
}

export function createSeekLog(): SeekLog {
  const pending = new Map<string, number>();
  return {
    sought(topic, partition, generation) { pending.set(`${topic}|${partition}`, generation); },
    arrived(topic, partition, generation) {
      if (!pending.size) return false;
      const key = `${topic}|${partition}`;
      const asked = pending.get(key);
      if (asked === undefined) return false;
      pending.delete(key);
      return asked !== generation;
    },
  };
}
