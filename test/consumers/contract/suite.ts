// The contract every sink handler passes on its topic, against the real Kafka, registry and store: it materializes
// every record, a replay of the same records (equal versions) changes nothing, and publishing them again (newer
// versions) changes no value; where the topic orders records, an older one never
// overwrites a newer one; bad records go to the DLQ with the reason while the good ones after them land; a tombstone
// deletes (or, where it means nothing, is dead-lettered); a store outage pauses the group without skipping.
// A subject adapts it to one topic and store: the records, and how to see them in the store.
import { expect, it } from 'vitest';
import type { TopicDef } from '../../../topics/index.ts';
import { waitFor } from '../../helpers/index.ts';
import type { SinkUnderTest, TopicKey } from './harness.ts';

export interface Scenario<T> {
  /** Good records under fresh random keys, in the order they are sent. */
  readonly records: readonly T[];
  /** Their record keys (a symbol, an event id, an entity key), at least two. */
  readonly keys: readonly string[];
  /** True once the store shows the effect of every record. */
  landed(): Promise<boolean>;
  /** The keys of the scenario the store holds anything for, sorted. */
  held(): Promise<string[]>;
  /** What the store holds for the scenario, deep-equal comparable, with row versions where the store has them. */
  snapshot(): Promise<unknown>;
  /**
   * The snapshot without row or record versions, where the store keeps them (default: snapshot): records published
   * again are newer versions of the same values, which a newest-wins store records without changing any value.
   */
  values?(): Promise<unknown>;
  /** Checks once the records landed, beyond the store (e.g. what the sink published). */
  verify?(): Promise<void>;
  /** Checks once a tombstone deleted `key`, beyond the store. */
  verifyDeleted?(key: string): Promise<void>;
}

/** Records of one entity where the older ones arrive after the newer ones. */
export interface Ordering<T> {
  newer: readonly T[];
  older: readonly T[];
  /** The store shows what the newer records wrote. */
  newerHolds(): Promise<boolean>;
  /** Version of what the newer records wrote (PostgreSQL's xmin): the older ones must not rewrite it. */
  newerVersion?(): Promise<unknown>;
  /** Where the store keeps history: the older records were kept too (beside, not over, the newer). */
  olderKept?(): Promise<boolean>;
  /** What the store holds for these records, with row versions where it has them. */
  snapshot(): Promise<unknown>;
  /** The snapshot without row or record versions (see Scenario.values). */
  values?(): Promise<unknown>;
}

export interface ContractSubject<T> {
  /** Names the records in test names: 'bar', 'market event', 'graph mutation'. */
  noun: string;
  topic: TopicKey;
  /** Records under fresh random keys: 'few' (two keys) or 'many'. */
  scenario(size: 'few' | 'many'): Scenario<T>;
  /** A record the sink must dead-letter as invalid when sent under `key`, and what the reason must say. */
  invalid(key: string): { value: T; reason: RegExp };
  /** A tombstone deletes what its key names, or (where it means nothing) is dead-lettered. */
  tombstones: 'delete' | 'dead-letter';
  /** Where the topic orders records of one entity (a later offset does not simply win). */
  ordering?(): Ordering<T>;
}

const META = { source: 'test' };

/** Registers the contract's tests for `subject` on `sut` (inside the describe that created it). */
export function sinkContract<T>(sut: SinkUnderTest, subject: ContractSubject<T>): void {
  const topic = () => sut.topics[subject.topic] as unknown as TopicDef<T>;
  const send = (records: readonly T[]) => sut.publisher.send(topic(), records, META);
  const landed = (s: Scenario<T>, what: string, timeoutMs = 60_000) => waitFor(() => s.landed(), { what: `${what} (${s.keys.join(', ')})`, timeoutMs });
  const { noun } = subject;

  it(`materializes every ${noun}, and redelivering the same records changes nothing`, async () => {
    const s = subject.scenario('many');
    await send(s.records);
    await sut.start();
    await landed(s, `${sut.name} to materialize ${s.records.length} ${noun} records`);
    await s.verify?.();
    const before = await s.snapshot();
    const values = await (s.values ?? s.snapshot)();

    // Redelivery: a rewind of the group to earliest (replay of the whole topic: the same versions) rewrites nothing;
    // the same records published again (newer versions of the same values) change no value.
    await sut.replay(subject.topic);
    await sut.settle(subject.topic);
    expect(await s.snapshot()).toEqual(before);
    await send(s.records);
    await sut.settle(subject.topic);
    expect(await (s.values ?? s.snapshot)()).toEqual(values);
  });

  if (subject.ordering) {
    const ordering = subject.ordering;
    it(`never lets an older ${noun} overwrite a newer one, and redelivering both changes nothing`, async () => {
      await sut.start();
      const o = ordering();
      await send(o.newer);
      await waitFor(() => o.newerHolds(), { what: `the newer ${noun}` });
      const version = await o.newerVersion?.();
      await send(o.older);
      await sut.settle(subject.topic);
      if (o.olderKept) expect(await o.olderKept()).toBe(true);
      expect(await o.newerHolds()).toBe(true);
      expect(await o.newerVersion?.()).toEqual(version);

      const after = await o.snapshot();
      const values = await (o.values ?? o.snapshot)();
      await sut.replay(subject.topic);
      await sut.settle(subject.topic);
      expect(await o.snapshot()).toEqual(after);
      await send([...o.newer, ...o.older]);
      await sut.settle(subject.topic);
      expect(await (o.values ?? o.snapshot)()).toEqual(values);
    });
  }

  it(`sends undecodable bytes and an invalid ${noun} to the DLQ with the reason, and materializes the good records after them`, async () => {
    await sut.start();
    const s = subject.scenario('few');
    const key = s.keys[0]!;
    const invalid = subject.invalid(key);
    await sut.sendRaw(subject.topic, [{ key, value: Buffer.from('not avro at all') }, { key, value: await sut.serde.encode(topic(), invalid.value) }]);
    await send(s.records);
    await landed(s, 'the good records after the bad ones');
    const dead = (await sut.deadLetters(subject.topic, s.keys, 2)).map((d) => d.headers);
    expect(dead.map((h) => h['error-class']).sort()).toEqual(['DecodeError', 'ValidationError']);
    for (const h of dead) {
      expect(h['original-topic']).toBe(sut.topics[subject.topic].name);
      expect(h['consumer-group']).toBe(sut.groupId);
      expect(h['error-message']).toBeTruthy();
    }
    expect(dead.find((h) => h['error-class'] === 'ValidationError')!['error-message']).toMatch(invalid.reason);
  });

  if (subject.tombstones === 'delete') {
    it('deletes what a tombstone\'s key names, and nothing else', async () => {
      await sut.start();
      const s = subject.scenario('few');
      await send(s.records);
      await landed(s, `the ${noun} records`);
      const [gone, ...kept] = s.keys;
      await sut.publisher.sendTombstone(topic(), gone!, META);
      await waitFor(async () => !(await s.held()).includes(gone!), { what: `${gone} deleted` });
      expect(await s.held()).toEqual([...kept].sort());
      await s.verifyDeleted?.(gone!);
    });
  } else {
    it('dead-letters a tombstone, which means nothing on this topic, and keeps what its key names', async () => {
      await sut.start();
      const s = subject.scenario('few');
      await send(s.records);
      await landed(s, `the ${noun} records`);
      await sut.publisher.sendTombstone(topic(), s.keys[0]!, META);
      const dead = await sut.deadLetters(subject.topic, [s.keys[0]!], 1);
      expect(dead.map((d) => d.headers))
        .toEqual([expect.objectContaining({ 'error-class': 'DecodeError', 'error-message': expect.stringMatching(/tombstone/) })]);
      await sut.settle(subject.topic);
      expect(await s.held()).toEqual([...s.keys].sort());
    });
  }

  it('pauses while the store is down and resumes without skipping or dead-lettering', async () => {
    await sut.start();
    await sut.settle(subject.topic); // everything before is committed: the outage starts from a known position
    const s = subject.scenario('many');
    sut.proxy.cut();
    try {
      const before = await sut.committed(subject.topic);
      const retried = sut.retries(subject.topic);
      await send(s.records);
      // While the store is unreachable the group fetches the records, fails to write them and retries (at least twice:
      // a commit after the first failure would show); all that time it must not commit past the unwritten records.
      const moved: Record<number, string>[] = [];
      const check = async () => { const now = await sut.committed(subject.topic); if (JSON.stringify(now) !== JSON.stringify(before)) moved.push(now); };
      await waitFor(async () => { await check(); return sut.retries(subject.topic) >= retried + 2; },
        { what: `${sut.name} to fetch the records and fail to write them twice`, timeoutMs: 60_000, intervalMs: 100 });
      await check();
      expect(moved, `committed offsets moved during the outage (were ${JSON.stringify(before)})`).toEqual([]);
      expect(await sut.lag(subject.topic)).toBeGreaterThan(0);
    } finally {
      sut.proxy.restore();
    }
    await landed(s, 'the records written once the store is back', 90_000);
    expect(await sut.deadLetters(subject.topic, s.keys, 0)).toEqual([]);
    await sut.settle(subject.topic);
  });
}
