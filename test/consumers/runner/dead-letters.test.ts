// Dead letters and hooks of the runner without a broker: what a dead letter carries, and what is reported for it.
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { deadLetter, reportDeadLetters } from '../../../consumers/runner/dead-letters.ts';
import { callHook, type RunnerHooks } from '../../../consumers/runner/hooks.ts';
import { DecodeError, ValidationError } from '../../../lib/errors.ts';
import { memoryLogger } from './helpers.ts';

const message = (o: Partial<KafkaMessage>): KafkaMessage =>
  ({ key: null, value: null, timestamp: '0', attributes: 0, offset: '0', headers: {}, ...o }) as KafkaMessage;
const origin = { topic: 'prices', partition: 2, group: 'grp' };

describe('dead letters', () => {
  it('carry the raw bytes, key and headers (as strings) of the record, the error, and where and when it was read', () => {
    const err = new DecodeError('not Avro');
    const d = deadLetter(origin, message({ key: Buffer.from('AAPL'), value: Buffer.from([1, 2]), offset: '42', timestamp: '1700000000042',
      headers: { 'correlation-id': Buffer.from('c-1'), multi: [Buffer.from('a'), Buffer.from('b')] } }), err);
    expect(d).toEqual({
      key: 'AAPL', value: Buffer.from([1, 2]), headers: { 'correlation-id': 'c-1', multi: 'a,b' }, error: err,
      origin: { topic: 'prices', partition: 2, offset: '42', group: 'grp', timestamp: '1700000000042' },
    });
  });

  it('a tombstone without a key is a dead letter with key and value null', () => {
    expect(deadLetter(origin, message({ offset: '3' }), new DecodeError('tombstone'))).toMatchObject({ key: null, value: null });
  });

  it('once published, each is logged with its offset, key, correlation id and error class, and reported to onDeadLetter', () => {
    const { logger, lines } = memoryLogger();
    const reasons: string[] = [];
    const dead = [
      deadLetter(origin, message({ offset: '5', key: Buffer.from('k'), headers: { 'correlation-id': Buffer.from('c-5') } }), new ValidationError('bad')),
      deadLetter(origin, message({ offset: '6' }), new DecodeError('garbage')),
    ];
    reportDeadLetters(dead, { log: logger, sink: 'postgres-sink', origin,
      hooks: { onDeadLetter: (e) => { reasons.push(`${e.sink}/${e.groupId}/${e.topic}/${e.reason}`); } } });
    expect(lines.map((l) => [l.msg, l.offset, l.key, l.correlationId, l.errClass, l.err])).toEqual([
      ['record sent to DLQ', '5', 'k', 'c-5', 'ValidationError', 'bad'],
      ['record sent to DLQ', '6', null, undefined, 'DecodeError', 'garbage'],
    ]);
    expect(reasons).toEqual(['postgres-sink/grp/prices/ValidationError', 'postgres-sink/grp/prices/DecodeError']);
  });
});

describe('callHook', () => {
  const e = { sink: 's', groupId: 'g', topic: 't', reason: 'r' };

  it('calls the hook with its object as `this`; no hooks, or no such hook, is fine', () => {
    const seen: unknown[] = [];
    const hooks: RunnerHooks = { onDeadLetter(x) { seen.push([this, x]); } };
    const { logger } = memoryLogger();
    callHook(hooks, logger, 'onDeadLetter', e);
    callHook(undefined, logger, 'onDeadLetter', e);
    callHook({}, logger, 'onDeadLetter', e);
    expect(seen).toEqual([[hooks, e]]);
  });

  it('a hook that throws, or rejects, is logged as a warning and ignored', async () => {
    const { logger, lines } = memoryLogger();
    expect(() => callHook({ onDeadLetter: () => { throw new Error('boom'); } }, logger, 'onDeadLetter', e)).not.toThrow();
    callHook({ onDeadLetter: (() => Promise.reject(new Error('later'))) as () => void }, logger, 'onDeadLetter', e);
    await new Promise((r) => setTimeout(r, 0));
    expect(lines.map((l) => [l.level, l.hook, l.err])).toEqual([[40, 'onDeadLetter', 'boom'], [40, 'onDeadLetter', 'later']]);
  });
});
