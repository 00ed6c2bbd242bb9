// Commit bookkeeping without a broker: the commits go to a payload's commitOffsetsIfNecessary, which the test records.
import { describe, expect, it } from 'vitest';
import { commitPast, createCommitCoalescer, nextOffset, type CommitVia } from '../../../consumers/runner/commits.ts';
import { memoryLogger, messages, payload } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records each commit as `topic/partition@offset+…,…`; the first `failures` commits reject; `gate` holds each commit. */
function recorder(o: { failures?: number; gate?: () => Promise<void> } = {}) {
  const commits: string[] = [];
  let calls = 0;
  const via: CommitVia = {
    commitOffsetsIfNecessary: async (offsets) => {
      calls++;
      await o.gate?.();
      if (calls <= (o.failures ?? 0)) throw Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
      commits.push((offsets?.topics ?? []).map((t) => `${t.topic}/${t.partitions.map((x) => `${x.partition}@${x.offset}`).join('+')}`).join(','));
    },
  };
  return { via, commits, calls: () => calls };
}

describe('commitPast (inline mode)', () => {
  it('resolves the last offset of the batch, then commits just past it', async () => {
    const { p, calls } = payload(messages([{ id: 1 }, { id: 2 }], { first: 99 }), { partition: 3 });
    await commitPast(p);
    expect(calls).toEqual(['resolve:100', 'commit:prices/3@101']);
  });

  it('the next offset is exact past 2^53 (offsets are decimal strings)', () => {
    expect(nextOffset({ lastOffset: () => '9007199254740993' })).toBe('9007199254740994');
  });
});

describe('commit coalescer (pipelined mode)', () => {
  it('offsets added within the interval go in one commit, the latest offset of each partition, grouped by topic', async () => {
    const r = recorder();
    const c = createCommitCoalescer({ intervalMs: 30, log: memoryLogger().logger });
    c.add(r.via, 'prices', 3, '102');
    c.add(r.via, 'prices', 4, '201');
    c.add(r.via, 'events', 0, '7');
    c.add(r.via, 'prices', 3, '105');
    await sleep(5);
    expect(r.commits).toEqual([]); // waits for the interval
    await sleep(60);
    expect(r.commits).toEqual(['prices/3@105+4@201,events/0@7']);
  });

  it('flush() commits at once and cancels the timer: nothing is committed twice', async () => {
    const r = recorder();
    const c = createCommitCoalescer({ intervalMs: 30, log: memoryLogger().logger });
    c.add(r.via, 'prices', 0, '5');
    await c.flush();
    expect(r.commits).toEqual(['prices/0@5']);
    await sleep(60);
    expect(r.calls()).toBe(1);
    await c.flush(); // nothing waiting: no request
    expect(r.calls()).toBe(1);
  });

  it('an offset added after a flush waits its own full interval (the flushed one\'s timer is gone)', async () => {
    const r = recorder();
    const c = createCommitCoalescer({ intervalMs: 100, log: memoryLogger().logger });
    c.add(r.via, 'prices', 0, '5');
    await sleep(60);
    await c.flush();
    c.add(r.via, 'prices', 0, '6');
    await sleep(70); // 130 ms after the first add, 70 after the second
    expect(r.commits).toEqual(['prices/0@5']);
    await sleep(80);
    expect(r.commits).toEqual(['prices/0@5', 'prices/0@6']);
  });

  it('a failed commit is kept and sent with the next one, unless a newer offset of its partition replaced it meanwhile', async () => {
    let release!: () => void;
    const held = new Promise<void>((res) => { release = res; });
    const r = recorder({ failures: 1, gate: () => (r.calls() === 1 ? held : Promise.resolve()) });
    const { logger, lines } = memoryLogger('debug');
    const c = createCommitCoalescer({ intervalMs: 1_000, log: logger });
    c.add(r.via, 'prices', 0, '5');
    c.add(r.via, 'prices', 1, '9');
    const failing = c.flush();
    await sleep(5);
    c.add(r.via, 'prices', 1, '12'); // written while the commit of 9 is in flight
    release();
    await failing;
    expect(r.commits).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, partitions: 2, err: 'The group is rebalancing' }));
    await c.flush();
    expect(r.commits).toEqual(['prices/1@12+0@5']); // 9 is not sent over 12
  });

  it('commits are sent one at a time, in order: a flush waits for the commit before it', async () => {
    let release!: () => void;
    const held = new Promise<void>((res) => { release = res; });
    let first = true;
    const r = recorder({ gate: async () => { if (first) { first = false; await held; } } });
    const c = createCommitCoalescer({ intervalMs: 1_000, log: memoryLogger().logger });
    c.add(r.via, 'prices', 0, '5');
    const one = c.flush();
    await sleep(5);
    c.add(r.via, 'prices', 0, '8');
    const two = c.flush();
    await sleep(5);
    expect(r.calls()).toBe(1); // the second waits for the first
    release();
    await Promise.all([one, two]);
    expect(r.commits).toEqual(['prices/0@5', 'prices/0@8']);
  });

  it('commits through the payload added last', async () => {
    const a = recorder(); const b = recorder();
    const c = createCommitCoalescer({ intervalMs: 1_000, log: memoryLogger().logger });
    c.add(a.via, 'prices', 0, '5');
    c.add(b.via, 'prices', 1, '3');
    await c.flush();
    expect([a.calls(), b.commits]).toEqual([0, ['prices/0@5+1@3']]);
  });

  it('transact() runs after the commits sent before, in place of the offset waiting for its partition; fences only its first', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    const r = recorder({ gate: () => gate });
    const c = createCommitCoalescer({ intervalMs: 1000, log: memoryLogger().logger });
    const order: string[] = [];
    c.add(r.via, 'prices', 3, '102');
    c.add(r.via, 'prices', 4, '201');
    const flushed = c.flush(); // held by the gate
    await sleep(1);
    c.add(r.via, 'prices', 3, '110');
    c.add(r.via, 'prices', 4, '205');
    const first = c.transact('prices', 3, async (fence) => { order.push(`tx 3@120 fence=${fence}`); return 'done'; });
    await sleep(5);
    expect(order).toEqual([]); // after the commit before it
    open();
    await flushed;
    expect(await first).toBe('done');
    expect(await c.transact('prices', 3, async (fence) => { order.push(`tx 3@130 fence=${fence}`); })).toBeUndefined();
    await c.flush();
    // Partition 3's waiting 110 was replaced by the transactions' offsets; partition 4's waiting offset is still committed.
    expect(r.commits).toEqual(['prices/3@102+4@201', 'prices/4@205']);
    expect(order).toEqual(['tx 3@120 fence=true', 'tx 3@130 fence=false']);
  });

  it('transact() after the assignment ended runs nothing; a failed one fences again on its next try', async () => {
    const c = createCommitCoalescer({ intervalMs: 1000, log: memoryLogger().logger });
    const fences: boolean[] = [];
    await expect(c.transact('prices', 0, async (fence) => { fences.push(fence); throw new Error('broker gone'); })).rejects.toThrow('broker gone');
    await c.transact('prices', 0, async (fence) => { fences.push(fence); });
    c.end();
    expect(await c.transact('prices', 0, async (fence) => { fences.push(fence); return 1; })).toBeUndefined();
    expect(fences).toEqual([true, true]);
  });
});
