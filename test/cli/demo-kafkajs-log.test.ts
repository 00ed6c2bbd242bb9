// Routine kafkajs start-up retries (coordinator loading or moving, leader elections) and a coordinator's answers while
// the group rebalances are logged at debug, never as errors: decided by the error's type or code when the log entry
// carries the error, by kafkajs's text otherwise.
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../lib/config.ts';
import { createKafka, kafkajsLogLevel, REBALANCE_RESPONSES, ROUTINE_KAFKA_ERRORS } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';

const require = createRequire(import.meta.url);
const kafkajsErrors = (require('kafkajs/src/protocol/error.js') as { errorCodes: { type: string; code: number; message: string }[] }).errorCodes;
const protocolError = (type: string) => {
  const e = kafkajsErrors.find((x) => x.type === type)!;
  return Object.assign(new Error(e.message), { name: 'KafkaJSProtocolError', type: e.type, code: e.code, retriable: true });
};

describe('kafkajs log levels', () => {
  it('lists the routine errors exactly as kafkajs defines them', () => {
    for (const r of ROUTINE_KAFKA_ERRORS) expect(kafkajsErrors.find((e) => e.type === r.type)).toMatchObject({ code: r.code,
      message: r.message, retriable: true });
  });

  it('downgrades a routine error by its type or code when the entry carries the error', () => {
    expect(kafkajsLogLevel(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)', { error: protocolError('GROUP_COORDINATOR_NOT_AVAILABLE') }))
      .toEqual({ level: 'debug', routine: 'GROUP_COORDINATOR_NOT_AVAILABLE' });
    expect(kafkajsLogLevel(logLevel.ERROR, 'Failed to send messages', { error: { code: 6 } })).toEqual({ level: 'debug', routine: 'NOT_LEADER_FOR_PARTITION' });
    expect(kafkajsLogLevel(logLevel.WARN, 'retrying',
      { error: Object.assign(new Error('retries exceeded'), { cause: protocolError('GROUP_LOAD_IN_PROGRESS') }) }))
      .toEqual({ level: 'debug', routine: 'GROUP_LOAD_IN_PROGRESS' });
  });

  it('keeps the level of an error whose code is not routine, whatever its text says', () => {
    const other = Object.assign(protocolError('UNKNOWN_MEMBER_ID'), { message: 'The group coordinator is not available' });
    expect(kafkajsLogLevel(logLevel.ERROR, 'The group coordinator is not available', { error: other })).toEqual({ level: 'error' });
    expect(kafkajsLogLevel(logLevel.ERROR, 'Response Produce(key: 0, version: 7)',
      { error: protocolError('TOPIC_AUTHORIZATION_FAILED') })).toEqual({ level: 'error' });
  });

  it('falls back to kafkajs\'s text when the entry carries no code', () => {
    for (const r of ROUTINE_KAFKA_ERRORS) {
      // connection.js: `Response <api>` with `error: e.message`; brokerPool/sendMessages: the text in the message.
      expect(kafkajsLogLevel(logLevel.ERROR, 'Response JoinGroup(key: 11, version: 5)',
        { error: r.message, correlationId: 3 })).toEqual({ level: 'debug', routine: r.type });
      expect(kafkajsLogLevel(logLevel.ERROR, `Failed to send messages: ${r.message}`,
        { retryCount: 1, retryTime: 300 })).toEqual({ level: 'debug', routine: r.type });
    }
    expect(kafkajsLogLevel(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', { retryCount: 0 })).toEqual({ level: 'error' });
    expect(kafkajsLogLevel(logLevel.WARN, 'The group is rebalancing, re-joining',
      { error: 'The group is rebalancing, so a rejoin is needed' })).toEqual({ level: 'warn' });
  });

  it('a coordinator\'s answers while the group rebalances are routine in a response entry; kafkajs\'s own notices keep their level', () => {
    for (const r of REBALANCE_RESPONSES) expect(kafkajsErrors.find((e) => e.type === r.type)).toMatchObject({ code: r.code, message: r.message });
    // connection.js logs the answer to a heartbeat, commit or sync as an error with `error: e.message`; kafkajs then rejoins.
    const heartbeat = 'Response Heartbeat(key: 12, version: 3)';
    expect(kafkajsLogLevel(logLevel.ERROR, heartbeat, { error: 'The group is rebalancing, so a rejoin is needed', correlationId: 9, size: 10 }))
      .toEqual({ level: 'debug', routine: 'REBALANCE_IN_PROGRESS' });
    expect(kafkajsLogLevel(logLevel.ERROR, 'Response OffsetCommit(key: 8, version: 5)', { error: 'Specified group generation id is not valid' }))
      .toEqual({ level: 'debug', routine: 'ILLEGAL_GENERATION' });
    expect(kafkajsLogLevel(logLevel.ERROR, 'Response SyncGroup(key: 14, version: 3)', { error: protocolError('REBALANCE_IN_PROGRESS') }))
      .toEqual({ level: 'debug', routine: 'REBALANCE_IN_PROGRESS' });
    // Other answers to the same requests, and the same errors outside a response entry, are not routine.
    const error = { level: 'error' };
    expect(kafkajsLogLevel(logLevel.ERROR, heartbeat, { error: protocolError('UNKNOWN_MEMBER_ID') })).toEqual(error);
    expect(kafkajsLogLevel(logLevel.ERROR, heartbeat, { error: 'The coordinator is not aware of this member' })).toEqual(error);
    expect(kafkajsLogLevel(logLevel.ERROR, 'Crash: KafkaJSProtocolError: The group is rebalancing, so a rejoin is needed', { groupId: 'g' })).toEqual(error);
    expect(kafkajsLogLevel(logLevel.ERROR, 'Response Produce(key: 0, version: 7)', { error: protocolError('TOPIC_AUTHORIZATION_FAILED') })).toEqual(error);
  });

  it('keeps a consumer crash from one visible as a warning, and leaves other levels alone', () => {
    expect(kafkajsLogLevel(logLevel.ERROR, `Crash: KafkaJSNumberOfRetriesExceeded: ${ROUTINE_KAFKA_ERRORS[2].message}`, { groupId: 'g', retryCount: 8 }))
      .toEqual({ level: 'warn', routine: 'GROUP_LOAD_IN_PROGRESS' });
    expect(kafkajsLogLevel(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees')).toEqual({ level: 'debug' });
    expect(kafkajsLogLevel(logLevel.INFO, 'Consumer has joined the group', { groupId: 'g' })).toEqual({ level: 'info' });
    expect(kafkajsLogLevel(logLevel.DEBUG, 'Response Fetch', {})).toEqual({ level: 'debug' });
  });

  it('routes kafkajs logs through createKafka\'s logCreator at the mapped level', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>); done();
    } });
    const logger = createLogger({ level: 'debug', format: 'json', destination: sink });
    const config = { KAFKA_SASL_MECHANISM: 'none', KAFKA_CLIENT_ID: 'log-test', KAFKA_BROKERS: ['127.0.0.1:9'], KAFKA_SSL: false } as unknown as Config;
    const kafkaLog = createKafka(config, logger).logger();
    kafkaLog.error('Response FindCoordinator(key: 10, version: 2)', { error: 'The coordinator is loading and hence can\'t process requests for this group' });
    kafkaLog.error('Response Metadata(key: 3, version: 6)', { error: protocolError('LEADER_NOT_AVAILABLE') });
    kafkaLog.error('Response Heartbeat(key: 12, version: 3)', { error: 'The group is rebalancing, so a rejoin is needed', correlationId: 7 });
    kafkaLog.error('Crash: KafkaJSNonRetriableError: Topic authorization failed', { groupId: 'g' });
    expect(lines.map((l) => [l.level, l.kafkaError, l.msg])).toEqual([
      [20, 'GROUP_LOAD_IN_PROGRESS', 'Response FindCoordinator(key: 10, version: 2)'],
      [20, 'LEADER_NOT_AVAILABLE', 'Response Metadata(key: 3, version: 6)'],
      [20, 'REBALANCE_IN_PROGRESS', 'Response Heartbeat(key: 12, version: 3)'],
      [50, undefined, 'Crash: KafkaJSNonRetriableError: Topic authorization failed'],
    ]);
  });
});
