// Membership of a batch without a broker: the payload's heartbeat() answers as kafkajs's does (errors with a `type`).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { batchMembership, heartbeatMs, mustRejoin, onGroupJoin, partitionsIn, type GroupJoin } from '../../../consumers/runner/membership.ts';
import { StaleBatchError, TransientError } from '../../../lib/errors.ts';

const kafkaError = (type: string) => Object.assign(new Error(type), { type });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A payload whose heartbeats answer `answer()` (resolve when it returns nothing), counted. */
function beating(answer: () => Error | undefined = () => undefined) {
  const p = { beats: 0, heartbeat: async () => { p.beats++; const err = answer(); if (err) throw err; } };
  return p;
}

describe('membership', () => {
  it('heartbeats every tenth of the session timeout, never more often than every 500 ms', () => {
    expect(heartbeatMs({ KAFKA_SESSION_TIMEOUT_MS: 30_000 })).toBe(3_000);
    expect(heartbeatMs({ KAFKA_SESSION_TIMEOUT_MS: 3_000 })).toBe(500);
  });

  it.each(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'UNKNOWN_MEMBER_ID'])('%s means rejoin', (type) => {
    expect(mustRejoin(kafkaError(type))).toBe(true);
  });

  it('other heartbeat failures do not (a broker unreachable, an error without a type, nothing)', () => {
    for (const err of [kafkaError('KAFKAJS_CONNECTION_ERROR'), new TransientError('down'), null, undefined]) expect(mustRejoin(err)).toBe(false);
  });

  it('a heartbeat answered "rebalancing" marks the batch rebalanced: its signal aborts and every failure then means abandoned', async () => {
    let type = 'KAFKAJS_CONNECTION_ERROR';
    const p = beating(() => kafkaError(type));
    const m = batchMembership(p, new AbortController().signal, 1_000);
    await m.heartbeat(); // a failure that is not a rebalance is swallowed and changes nothing
    expect([m.rebalanced, m.signal.aborted, m.abandoned(new TransientError('store down'))]).toEqual([false, false, false]);
    type = 'REBALANCE_IN_PROGRESS';
    await m.heartbeat();
    expect([m.rebalanced, m.signal.aborted, m.abandoned(new TransientError('store down'))]).toEqual([true, true, true]);
  });

  it('the member stopping aborts the batch\'s signal and abandons it; a StaleBatchError is abandonment on its own', () => {
    const stopping = new AbortController();
    const m = batchMembership(beating(), stopping.signal, 1_000);
    expect(m.abandoned(new StaleBatchError())).toBe(true);
    expect(m.abandoned(new Error('x'))).toBe(false);
    stopping.abort();
    expect([m.signal.aborted, m.rebalanced, m.abandoned(new Error('x'))]).toEqual([true, false, true]);
  });

  it('each batch has its own membership: a rebalance seen by one batch does not abandon another', async () => {
    const stopping = new AbortController();
    const a = batchMembership(beating(() => kafkaError('ILLEGAL_GENERATION')), stopping.signal, 1_000);
    const b = batchMembership(beating(), stopping.signal, 1_000);
    await a.heartbeat();
    await b.heartbeat();
    expect([a.rebalanced, b.rebalanced, b.signal.aborted]).toEqual([true, false, false]);
  });

  it('keepAlive() heartbeats on a timer until stopped', async () => {
    const p = beating();
    const stop = batchMembership(p, new AbortController().signal, 10).keepAlive();
    await sleep(55);
    stop();
    const beats = p.beats;
    expect(beats).toBeGreaterThanOrEqual(3);
    await sleep(40);
    expect(p.beats).toBe(beats);
  });

  it('a timer heartbeat that learns of a rebalance abandons the batch too', async () => {
    const p = beating(() => kafkaError('REBALANCE_IN_PROGRESS'));
    const m = batchMembership(p, new AbortController().signal, 10);
    const stop = m.keepAlive();
    await sleep(30);
    stop();
    expect(m.rebalanced).toBe(true);
  });

  it('counts the partitions of an assignment, and reports each group join with them', () => {
    expect(partitionsIn({ prices: [0, 1, 2], events: [4] })).toBe(4);
    const emitter = new EventEmitter();
    const consumer = { events: { GROUP_JOIN: 'consumer.group_join' }, on: (name: string, fn: (e: unknown) => void) => emitter.on(name, fn) };
    const joins: GroupJoin[] = [];
    onGroupJoin(consumer as never, (j) => joins.push(j));
    emitter.emit('consumer.group_join', { timestamp: 5, payload: { memberAssignment: { prices: [0, 2] }, isLeader: true } });
    emitter.emit('consumer.group_join', { timestamp: 9, payload: { memberAssignment: {}, isLeader: false } });
    expect(joins).toEqual([{ at: 5, partitions: 2, assignment: { prices: [0, 2] }, isLeader: true }, { at: 9, partitions: 0, assignment: {}, isLeader: false }]);
  });
});
