// A client call that meets a broker it cannot reach is made again (lib/kafka.ts retryOnConnectionError), within its
// budget; any other error ends it at once. The errors are kafkajs's own classes, as its calls throw them.
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isConnectionError, retryOnConnectionError } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
const logger = createLogger({ level: 'fatal' });
const refused = () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092', code: 'ECONNREFUSED' });

describe('retryOnConnectionError', () => {
  it('knows a connection error, also as the cause of kafkajs giving up, and nothing else', () => {
    expect(isConnectionError(refused())).toBe(true);
    expect(isConnectionError(new KafkaJSNumberOfRetriesExceeded(refused(), { retryCount: 8, retryTime: 10_000 }))).toBe(true);
    expect(isConnectionError(new KafkaJSProtocolError('Topic authorization failed'))).toBe(false);
    expect(isConnectionError(new TypeError('x is undefined'))).toBe(false);
  });

  it('knows a broker that is not the leader any more (leadership moved after a broker died, a new topic still electing)', () => {
    // As kafkajs makes them from a response (protocol/error.js): the error's message, type and code.
    const protocolError = (message: string, type: string, code: number) => new KafkaJSProtocolError(Object.assign(new Error(message), { type, code }));
    const notLeader = protocolError('This server is not the leader for that topic-partition', 'NOT_LEADER_FOR_PARTITION', 6);
    expect(isConnectionError(notLeader)).toBe(true);
    expect(isConnectionError(Object.assign(new Error('Error in listOffsets'), { errors: [notLeader] }))).toBe(true);
    expect(isConnectionError(protocolError('Topic authorization failed', 'TOPIC_AUTHORIZATION_FAILED', 29))).toBe(false);
  });

  it('calls again while the broker cannot be reached, then answers; other errors are thrown at once', async () => {
    let calls = 0;
    const answer = await retryOnConnectionError(async () => { if (++calls < 3) throw refused(); return 'metadata'; }, { what: 'test', logger });
    expect([answer, calls]).toEqual(['metadata', 3]);
    let other = 0;
    await expect(retryOnConnectionError(async () => { other++; throw new TypeError('bad'); }, { what: 'test', logger })).rejects.toThrow('bad');
    expect(other).toBe(1);
  });

  it('gives up with the connection error once its budget is spent', async () => {
    const started = Date.now();
    let calls = 0;
    await expect(retryOnConnectionError(async () => { calls++; throw refused(); }, { what: 'test', logger, budgetMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
