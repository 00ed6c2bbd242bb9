// Retries of a batch's steps without a broker or a store: the step is a function the test fails as it likes.
import { describe, expect, it } from 'vitest';
import { batchMembership } from '../../../consumers/runner/membership.ts';
import { createRetrying } from '../../../consumers/runner/retry.ts';
import { MemberFailedError, StaleBatchError, TransientError, ValidationError } from '../../../lib/errors.ts';
import { memoryLogger, messages, payload } from './helpers.ts';

function setup(o: { running?: () => boolean; stale?: () => boolean; heartbeat?: () => Promise<void> } = {}) {
  const { logger, lines } = memoryLogger();
  const retries: [string, number, string][] = [];
  const retrying = createRetrying({
    log: logger, sink: 's', groupId: 'g', maxTimeoutMs: 50, unknownAttempts: 3,
    hooks: { onRetry: (e) => { retries.push([e.topic, e.attempt, (e.error as Error).message]); } },
  });
  const { p, calls } = payload(messages([{ id: 1 }], { first: 7 }), { partition: 1, running: o.running, stale: o.stale });
  if (o.heartbeat) (p as { heartbeat: () => Promise<void> }).heartbeat = o.heartbeat;
  const stopping = new AbortController();
  const member = batchMembership(p, stopping.signal, 60_000);
  return { retrying, p, member, stopping, calls, lines, retries };
}

/** A step that fails with `errors` in turn, then returns 'done'. */
const failing = (...errors: Error[]) => {
  let n = 0;
  const step = async () => { const err = errors[n++]; if (err) throw err; return 'done'; };
  return Object.assign(step, { calls: () => n });
};

describe('retrying a batch step', () => {
  it('retries a retriable failure with a heartbeat between attempts, logging and calling onRetry each time', async () => {
    const t = setup();
    const step = failing(new TransientError('store down'), new TransientError('store down'));
    await expect(t.retrying('store write', t.p, t.member, step)).resolves.toBe('done');
    expect(step.calls()).toBe(3);
    expect(t.calls).toEqual(['heartbeat', 'heartbeat']);
    expect(t.retries).toEqual([['prices', 1, 'store down'], ['prices', 2, 'store down']]);
    expect(t.lines.map((l) => [l.msg, l.topic, l.partition, l.offset, l.attempt])).toEqual([
      ['store write failed; pausing this partition and retrying', 'prices', 1, '7', 1],
      ['store write failed; pausing this partition and retrying', 'prices', 1, '7', 2],
    ]);
  });

  it('a failure that is not retriable is thrown at once: no retry, no heartbeat, no log', async () => {
    const t = setup();
    const step = failing(new ValidationError('bad row'));
    await expect(t.retrying('store write', t.p, t.member, step)).rejects.toBeInstanceOf(ValidationError);
    expect([step.calls(), t.calls, t.retries, t.lines]).toEqual([1, [], [], []]);
  });

  it('gives up with StaleBatchError when the member stopped running or lost the partition', async () => {
    for (const o of [{ running: () => false }, { stale: () => true }]) {
      const t = setup(o);
      const step = failing(new TransientError('store down'), new TransientError('store down'));
      await expect(t.retrying('store write', t.p, t.member, step)).rejects.toBeInstanceOf(StaleBatchError);
      expect([step.calls(), t.calls]).toEqual([1, []]);
    }
  });

  it('gives up with StaleBatchError when the heartbeat between attempts learns that the group is rebalancing', async () => {
    const t = setup({ heartbeat: async () => { throw Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }); } });
    const step = failing(new TransientError('store down'), new TransientError('store down'));
    await expect(t.retrying('decode', t.p, t.member, step)).rejects.toThrow('batch abandoned: the group is rebalancing');
    expect(step.calls()).toBe(1);
  });

  it('stops retrying when the member stops meanwhile (its signal aborts the back-off)', async () => {
    const t = setup();
    const step = async () => { t.stopping.abort(); throw new TransientError('store down'); };
    await expect(t.retrying('store write', t.p, t.member, step)).rejects.toBeDefined();
    expect(t.member.abandoned(new Error('any'))).toBe(true);
  });

  it('an error nobody classified (a TypeError in a sink) is retried, then fails the step with MemberFailedError after 3 in a row', async () => {
    const t = setup();
    const step = failing(new TypeError("Cannot read properties of undefined (reading 'close')"), new TypeError("Cannot read properties of undefined (reading 'close')"),
      new TypeError("Cannot read properties of undefined (reading 'close')"), new TypeError('never reached'));
    const err = await t.retrying('store write', t.p, t.member, step).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MemberFailedError);
    expect((err as Error).message).toContain("store write of prices[1] failed 3 times in a row with an error nobody classified (TypeError: Cannot read");
    expect((err as MemberFailedError).cause).toBeInstanceOf(TypeError);
    expect(step.calls()).toBe(3);
  });

  it('the count is of the same error in a row: a different one, or a transient one, starts it again', async () => {
    const t = setup();
    const a = () => new TypeError('a');
    const step = failing(a(), a(), new TypeError('b'), a(), a(), new TransientError('store down'), a(), a());
    await expect(t.retrying('store write', t.p, t.member, step)).resolves.toBe('done');
    expect(step.calls()).toBe(9);
  });

  it('a Kafka error kafkajs does not retry and that is not the record\'s fault is unknown; MESSAGE_TOO_LARGE is permanent (not retried)', async () => {
    const t = setup();
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false });
    const step = failing(tooLarge);
    await expect(t.retrying('dead-letter', t.p, t.member, step)).rejects.toBe(tooLarge);
    expect(step.calls()).toBe(1);
  });
});
