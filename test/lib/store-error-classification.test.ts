// How the stores' refusals are read (each store's client in lib/stores/ classifies into lib/errors.ts' classes): a
// store that refuses us — bad credentials, a missing database, a revoked privilege, shutting down, full, read-only — is
// down (TransientError, retriable: the group pauses and retries), never the record's fault (ValidationError → DLQ);
// and each is described for /health and /ready by a fixed phrase and its code, never by the driver's message. The
// errors are the drivers' own classes (pg's DatabaseError, neo4j-driver's Neo4jError, ioredis's ReplyError), built as
// the drivers build them.
import { ReplyError } from 'ioredis';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  CircuitOpenError, describeError, isRetriable, RegistryHttpError, retryClass, StoreTimeoutError, TransientError, ValidationError,
} from '../../lib/errors.ts';
import { classifyNeo4jError } from '../../lib/stores/neo4j.ts';
import { classifyPgError } from '../../lib/stores/postgres.ts';
import { classifyRedisError } from '../../lib/stores/redis.ts';

function pgError(code: string, message: string): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  err.severity = 'FATAL';
  return err;
}
const neo4jError = (code: string, message: string) => new neo4j.Neo4jError(message, code, '50N42', 'error: general processing exception - unexpected error');
const redisReply = (message: string) => new (ReplyError as new (m: string) => Error)(message);

describe('PostgreSQL errors', () => {
  const refusals: [string, string][] = [
    ['28P01', 'password authentication failed for user "sink"'],
    ['28000', 'no pg_hba.conf entry for host "10.0.0.1", user "sink", database "marketstream"'],
    ['3D000', 'database "marketstream" does not exist'],
    ['42501', 'permission denied for table price_data'],
    ['57P01', 'terminating connection due to administrator command'],
    ['53300', 'sorry, too many clients already'],
    ['25006', 'cannot execute INSERT in a read-only transaction'],
    ['40001', 'could not serialize access due to concurrent update'],
    ['40P01', 'deadlock detected'],
  ];
  it.each(refusals)('%s (%s) is the store: retriable, described by its code only', (code, message) => {
    const c = classifyPgError(pgError(code, message));
    expect(c).toBeInstanceOf(TransientError);
    expect(isRetriable(c)).toBe(true);
    expect(describeError(c)).toBe(`PostgreSQL unavailable (${code})`);
    expect(describeError(pgError(code, message))).toBe(`PostgreSQL unavailable (${code})`); // unclassified (a ping)
  });

  it.each([['55P03', 'canceling statement due to lock timeout'], ['57014', 'canceling statement due to statement timeout']])(
    '%s (%s) is a deadline passed: a retriable StoreTimeoutError, described by its code only', (code, message) => {
      const c = classifyPgError(pgError(code, message));
      expect(c).toBeInstanceOf(StoreTimeoutError);
      expect(c).toBeInstanceOf(TransientError);
      expect(retryClass(c)).toBe('transient');
      expect(describeError(c)).toBe(`PostgreSQL timed out (${code})`);
      expect(describeError(pgError(code, message))).toBe(`PostgreSQL timed out (${code})`); // unclassified (a ping)
    });

  it("pg's client-side deadlines (query_timeout, connection timeouts) are retriable StoreTimeoutErrors", () => {
    const messages = ['Query read timeout', 'timeout expired', 'timeout exceeded when trying to connect', 'Connection terminated due to connection timeout'];
    for (const message of messages) {
      const c = classifyPgError(new Error(message));
      expect(c, message).toBeInstanceOf(StoreTimeoutError);
      expect(retryClass(new Error(message)), message).toBe('transient');
      expect(describeError(new Error(message)), message).toBe('PostgreSQL timed out');
    }
  });

  it('connection failures (an errno, or no code at all) are the store', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
    expect(classifyPgError(refused)).toBeInstanceOf(TransientError);
    expect(describeError(classifyPgError(refused))).toBe('PostgreSQL unavailable (ECONNREFUSED)');
    expect(classifyPgError(new Error('Connection terminated unexpectedly'))).toBeInstanceOf(TransientError);
    expect(describeError(classifyPgError(new Error('Connection terminated unexpectedly')))).toBe('PostgreSQL unavailable');
  });

  it.each([['22003', 'numeric field overflow'], ['23505', 'duplicate key value violates unique constraint'],
    ['22P02', 'invalid input syntax']])('%s (data) is the record: not retriable', (code, message) => {
    const c = classifyPgError(pgError(code, message));
    expect(c).toBeInstanceOf(ValidationError);
    expect(isRetriable(c)).toBe(false);
    expect(describeError(c)).toBe(`PostgreSQL rejected the data (${code})`);
  });
});

describe('Neo4j errors', () => {
  const refusals: [string, string][] = [
    ['Neo.ClientError.Security.Unauthorized', 'The client is unauthorized due to authentication failure.'],
    ['Neo.ClientError.Security.AuthenticationRateLimit', 'The client has provided incorrect authentication details too many times in a row.'],
    ['Neo.ClientError.Security.CredentialsExpired', 'The credentials you provided were valid, but must be changed before you can use this instance.'],
    ['Neo.ClientError.Security.Forbidden', 'Write operations are not allowed for user \'sink\'.'],
    ['Neo.ClientError.Security.AuthorizationExpired', 'Authorization info expired.'],
    ['Neo.ClientError.Security.TokenExpired', 'The auth provider token has expired.'],
    ['Neo.ClientError.Database.DatabaseNotFound', 'Database does not exist. Database name: \'graph\'.'],
    ['Neo.ClientError.Statement.AccessMode', 'Writing in read access mode not allowed.'],
    ['Neo.TransientError.General.DatabaseUnavailable', 'The database is not currently available to serve your request.'],
    ['Neo.DatabaseError.General.UnknownError', 'An unknown error occurred.'],
    ['ServiceUnavailable', 'Could not perform discovery. No routing servers available.'],
    ['SessionExpired', 'No longer possible to write to server at 10.0.0.5:7687'],
  ];
  it.each(refusals)('%s is the store: retriable, described by its code only', (code, message) => {
    const c = classifyNeo4jError(neo4jError(code, message));
    expect(c).toBeInstanceOf(TransientError);
    expect(isRetriable(c)).toBe(true);
    expect(describeError(c)).toBe(`Neo4j unavailable (${code})`);
    expect(describeError(neo4jError(code, message))).toBe(`Neo4j unavailable (${code})`);
  });

  it.each(['Neo.ClientError.Schema.ConstraintValidationFailed', 'Neo.ClientError.Statement.TypeError',
    'Neo.ClientError.Request.Invalid'])('%s is the record: not retriable', (code) => {
    const c = classifyNeo4jError(neo4jError(code, 'rejected'));
    expect(c).toBeInstanceOf(ValidationError);
    expect(describeError(c)).toBe(`Neo4j rejected the data (${code})`);
  });

  it('a transaction the server terminated at its timeout (running, or waiting for a lock) is a retriable StoreTimeoutError', () => {
    for (const code of ['Neo.ClientError.Transaction.TransactionTimedOut', 'Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration',
      'Neo.ClientError.Transaction.LockClientStopped', 'Neo.TransientError.Transaction.LockClientStopped']) {
      const c = classifyNeo4jError(neo4jError(code, 'The transaction has been terminated.'));
      expect(c, code).toBeInstanceOf(StoreTimeoutError);
      expect(describeError(c)).toBe(`Neo4j timed out (${code})`);
    }
  });
});

describe('Redis errors', () => {
  it.each([
    ['NOAUTH', 'NOAUTH Authentication required.'],
    ['WRONGPASS', 'WRONGPASS invalid username-password pair or user is disabled.'],
    ['NOPERM', 'NOPERM User sink has no permissions to run the \'evalsha\' command'],
    ['READONLY', 'READONLY You can\'t write against a read only replica.'],
    ['LOADING', 'LOADING Redis is loading the dataset in memory'],
    ['OOM', 'OOM command not allowed when used memory > \'maxmemory\'.'],
    ['MISCONF', 'MISCONF Redis is configured to save RDB snapshots, but it\'s currently unable to persist to disk.'],
    ['BUSY', 'BUSY Redis is busy running a script.'],
  ])('a %s reply is the store: retriable, described by its code only', (code, message) => {
    const c = classifyRedisError(redisReply(message));
    expect(c).toBeInstanceOf(TransientError);
    expect(isRetriable(c)).toBe(true);
    expect(describeError(c)).toBe(`Redis unavailable (${code})`);
    expect(describeError(redisReply(message))).toBe(`Redis unavailable (${code})`);
  });

  it('connection failures are the store', () => {
    expect(describeError(classifyRedisError(new Error('Connection is closed.')))).toBe('Redis unavailable');
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6379'), { code: 'ECONNREFUSED' });
    expect(describeError(classifyRedisError(refused))).toBe('Redis unavailable (ECONNREFUSED)');
  });

  it("a command past ioredis's commandTimeout is a retriable StoreTimeoutError", () => {
    expect(classifyRedisError(new Error('Command timed out'))).toBeInstanceOf(StoreTimeoutError);
    expect(retryClass(new Error('Command timed out'))).toBe('transient');
    expect(describeError(new Error('Command timed out'))).toBe('Redis timed out');
  });
});

describe('describeError', () => {
  it('never shows the driver\'s message, a host, a user, a connection string or a stack', () => {
    const raw = [
      pgError('28P01', 'password authentication failed for user "sink" at postgres://sink:hunter2@db:5432/x'),
      neo4jError('Neo.ClientError.Security.Unauthorized', 'unauthorized: bolt://neo:hunter2@graph:7687'),
      redisReply('WRONGPASS invalid username-password pair (redis://:hunter2@cache:6379)'),
      Object.assign(new Error('getaddrinfo ENOTFOUND db.internal for postgres://sink:hunter2@db.internal'), { code: 'ENOTFOUND' }),
      new TransientError('schema registry unreachable: fetch failed', new TypeError('fetch failed for http://u:hunter2@registry')),
    ];
    for (const err of raw) {
      const d = describeError(err);
      expect(d).not.toMatch(/hunter2|sink|db:|graph:|cache:|registry|\bat\b|\n/);
    }
    expect(describeError(raw[3])).toBe('Error (ENOTFOUND)');
    expect(describeError(raw[4])).toBe('TransientError (TRANSIENT): TypeError');
  });

  it('our own errors without a cause keep their (masked) message; known ones have a fixed phrase', () => {
    expect(describeError(new TransientError('PostgreSQL unavailable (57P01): terminating connection'))).toBe('PostgreSQL unavailable (57P01): ' +
      'terminating connection');
    expect(describeError(new TransientError('store at redis://:hunter2@cache:6379 down'))).toBe('store at redis://:***@cache:6379 down');
    expect(describeError(new RegistryHttpError(503, 'Service Unavailable: upstream connect error'))).toBe('Schema Registry answered 503');
    expect(describeError(new CircuitOpenError('yahoo', new Error('boom')))).toBe('circuit for yahoo is open: not calling it until the reset timeout passes');
  });

  it('anything else is its class and code', () => {
    expect(describeError(new Error('boom'))).toBe('Error');
    expect(describeError('text')).toBe('string');
    expect(describeError(Object.assign(new Error('x'), { code: 'has spaces, so not a code' }))).toBe('Error');
  });
});
