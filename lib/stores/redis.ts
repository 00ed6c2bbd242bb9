// Redis: client construction from config. Commands queue while disconnected and reconnect with backoff;
// a write that fails while Redis is down surfaces as a TransientError through the sink.
// A server that refuses our credentials (WRONGPASS, NOAUTH) is down for us, not a reason to give up: ioredis fails the
// queued commands with that reply error and reconnects (retryStrategy), and connect() rejects with it (ioredis itself
// only says "Connection is closed."), so the sink classifies it as retriable with its code.
import { Redis } from 'ioredis';
import { configSpec, type Config } from '../config.ts';
import { driverCode, MarketstreamError, registerStoreErrors, storeTimedOut, storeUnavailable } from '../errors.ts';

export type { Redis };

export interface RedisOptions {
  lazyConnect?: boolean;
  /**
   * One attempt bounded in time, for checks and probes (doctor, stack): no reconnect, no offline queue, connect and
   * every command give up after this many ms. Without it the client reconnects with backoff and queues commands.
   */
  checkTimeoutMs?: number;
}

/**
 * Every command has a deadline (REDIS_COMMAND_TIMEOUT_MS, ioredis's commandTimeout, counted from when it is queued):
 * a command without a reply by then fails as a StoreTimeoutError (classifyRedisError), also while its connection
 * stopped answering without closing. The client then drops that connection and connects again: ioredis has one, and
 * would otherwise keep it until the OS gives up on it (minutes). Commands sent on it and not answered are sent again on
 * the new one (ioredis's autoResendUnfulfilledCommands); the sink's writes are idempotent. A client for checks and
 * probes takes its one timeout from checkTimeoutMs.
 */
export function createRedis(config: Pick<Config, 'REDIS_URL'> & Partial<Pick<Config, 'REDIS_COMMAND_TIMEOUT_MS'>>, opts: RedisOptions = {}): Redis {
  const t = opts.checkTimeoutMs;
  const commandTimeout = config.REDIS_COMMAND_TIMEOUT_MS ?? Number(configSpec.REDIS_COMMAND_TIMEOUT_MS.default);
  const client = new Redis(config.REDIS_URL, t === undefined
    ? {
      lazyConnect: opts.lazyConnect ?? true,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      connectTimeout: 5000,
      ...(commandTimeout ? { commandTimeout } : {}),
      retryStrategy: (times) => Math.min(200 * 2 ** times, 5000),
    }
    : { lazyConnect: true, connectTimeout: t, commandTimeout: t, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // Reported through failed commands, not as an unhandled event; the last one explains a failed connect().
  let lastError: Error | undefined;
  client.on('error', (err: Error) => { lastError = err; });
  if (t === undefined && commandTimeout) reconnectOnTimeout(client);
  const connect = client.connect.bind(client);
  client.connect = (() => {
    lastError = undefined;
    return connect().catch((err: unknown) => { throw lastError && lastError !== err ? lastError : err; });
  }) as Redis['connect'];
  return client;
}

/** After a command timed out on a ready connection, that connection is dropped and a new one made (see createRedis). */
function reconnectOnTimeout(client: Redis): void {
  const send = client.sendCommand.bind(client);
  const watched = new WeakSet<Promise<unknown>>(); // a command sent again after a reconnect keeps its promise: watched once
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const reply = send(...args) as Promise<unknown>;
    if (!watched.has(reply)) {
      watched.add(reply);
      reply.catch((err: unknown) => { if (isCommandTimeout(err) && client.status === 'ready') client.disconnect(true); });
    }
    return reply;
  }) as Redis['sendCommand'];
}

/** The code of a Redis reply error (its first word: NOAUTH, WRONGPASS, READONLY, LOADING, OOM, MISCONF, BUSY, …). */
function redisReplyCode(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return undefined;
  const word = err.message.split(' ', 1)[0];
  return word && /^[A-Z][A-Z_-]*$/.test(word) ? word : 'ERR';
}

const isMaxRetries = (err: unknown) => err instanceof Error && err.name === 'MaxRetriesPerRequestError';
/** ioredis's commandTimeout error (a plain Error, known by its fixed message). */
const isCommandTimeout = (err: unknown) => err instanceof Error && err.message === 'Command timed out';

/**
 * Redis: every failure is the store's. Connection errors carry no reply (an errno, or ioredis's own "Connection is
 * closed." / MaxRetriesPerRequestError); a reply error's code is its first word (NOAUTH, WRONGPASS, READONLY,
 * LOADING, OOM, MISCONF, BUSY, NOPERM, …), kept in the message for the logs. A failed AUTH while connecting fails the
 * queued commands with that reply error and ioredis reconnects. The sink's script accepts any validated record, so a
 * reply error never means bad data.
 */
export function classifyRedisError(err: unknown): MarketstreamError {
  if (err instanceof MarketstreamError) return err;
  if (isCommandTimeout(err)) return storeTimedOut('Redis', undefined, 'no reply within the command timeout (REDIS_COMMAND_TIMEOUT_MS)', err);
  return storeUnavailable('Redis', redisReplyCode(err) ?? (isMaxRetries(err) ? 'MaxRetriesPerRequestError' : driverCode(err)), err);
}

registerStoreErrors((err) => (redisReplyCode(err) || isMaxRetries(err) || isCommandTimeout(err) ? classifyRedisError(err) : undefined));
