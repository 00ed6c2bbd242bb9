// The per-partition write order of the pipelined mode, without a broker: writes are promises the test settles.
import { describe, expect, it } from 'vitest';
import { createWriteSlots, seekBack, type Outcome } from '../../../consumers/runner/write-slots.ts';
import { memoryLogger, messages, payload } from './helpers.ts';

/** A write the test ends: `end(outcome)`. */
function pending() {
  let end!: (o: Outcome) => void;
  const write = new Promise<Outcome>((r) => { end = r; });
  return { write, end };
}
const settledWithin = async <T>(p: Promise<T>, ms = 30) =>
  Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('write slots', () => {
  it('a partition with no write handed off: the batch may be written at once', async () => {
    await expect(createWriteSlots().turn('prices', 0)).resolves.toBe(true);
  });

  it('the next batch of a partition waits for the write before it, and goes on when that one was written', async () => {
    const slots = createWriteSlots();
    const first = pending();
    slots.handOff('prices', 0, first.write);
    const turn = slots.turn('prices', 0);
    expect(await settledWithin(turn)).toBe(false);
    first.end({ ok: true });
    await expect(turn).resolves.toBe(true);
  });

  it('partitions do not wait for each other (nor the same partition number of another topic)', async () => {
    const slots = createWriteSlots();
    slots.handOff('prices', 0, pending().write);
    await expect(slots.turn('prices', 1)).resolves.toBe(true);
    await expect(slots.turn('events', 0)).resolves.toBe(true);
  });

  it('after an abandoned write the next batch is dropped (false), once: the slot is free for the batch fetched again', async () => {
    const slots = createWriteSlots();
    const first = pending();
    slots.handOff('prices', 0, first.write);
    first.end({ ok: false });
    await expect(slots.turn('prices', 0)).resolves.toBe(false);
    await expect(slots.turn('prices', 0)).resolves.toBe(true);
  });

  it('after a failed write the next batch of the partition fails with its error, once', async () => {
    const slots = createWriteSlots();
    const first = pending();
    slots.handOff('prices', 0, first.write);
    first.end({ ok: false, error: new Error('DLQ topic deleted') });
    await expect(slots.turn('prices', 0)).rejects.toThrow('DLQ topic deleted');
    await expect(slots.turn('prices', 0)).resolves.toBe(true);
  });

  it('drain() resolves once every write handed off has ended', async () => {
    const slots = createWriteSlots();
    const a = pending(); const b = pending();
    slots.handOff('prices', 0, a.write);
    slots.handOff('prices', 1, b.write);
    const drained = slots.drain();
    a.end({ ok: true });
    expect(await settledWithin(drained)).toBe(false);
    b.end({ ok: false });
    await drained;
  });
});

describe('seekBack', () => {
  const setup = (running = true) => {
    const seeks: string[] = [];
    const { logger, lines } = memoryLogger();
    const { p } = payload(messages([{ id: 1 }, { id: 2 }], { first: 40 }), { partition: 2, running: () => running });
    return { p, seeks, logger, lines, seek: (t: string, part: number, off: string) => { seeks.push(`${t}/${part}@${off}`); } };
  };

  it('fetches the batch again from its first offset', () => {
    const s = setup();
    expect(seekBack(s.p, { stopping: new AbortController().signal, seek: s.seek, log: s.logger })).toBe(true);
    expect(s.seeks).toEqual(['prices/2@40']);
  });

  it('does not seek when the member is stopping or no longer running (the next owner reads from the last commit)', () => {
    const stopped = new AbortController();
    stopped.abort();
    const s = setup();
    expect(seekBack(s.p, { stopping: stopped.signal, seek: s.seek, log: s.logger })).toBe(true);
    const t = setup(false);
    expect(seekBack(t.p, { stopping: new AbortController().signal, seek: t.seek, log: t.logger })).toBe(true);
    expect([...s.seeks, ...t.seeks]).toEqual([]);
  });

  it('a seek that throws is logged and reported (false), for the caller to fail the partition', () => {
    const s = setup();
    const seek = () => { throw new Error('not assigned'); };
    expect(seekBack(s.p, { stopping: new AbortController().signal, seek, log: s.logger })).toBe(false);
    expect(s.lines).toContainEqual(expect.objectContaining({ level: 40, topic: 'prices', partition: 2, err: 'not assigned' }));
  });
});
