// pino: JSON by default, pretty on a terminal; secrets redacted wherever they appear in a log object, and passwords
// masked in every string logged (messages, fields, error messages and stacks): drivers' error texts can echo the
// connection string they were given.
import { pino, type Logger } from 'pino';

export type { Logger };

const redactPaths = [
  'password', '*.password', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization',
  "headers['x-api-key']", "*.headers['x-api-key']",
  'sasl.password', 'config.KAFKA_SASL_PASSWORD', 'config.SCHEMA_REGISTRY_PASSWORD', 'config.NEO4J_PASSWORD', 'config.ANTHROPIC_API_KEY',
  'config.ALPHAVANTAGE_API_KEY', 'config.TWELVEDATA_API_KEY',
];

const MASK = '***';
/** scheme://userinfo@ — the userinfo runs to the last @ of the authority (a password may hold an unencoded @). */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'`<>\\]*)@/gi;
/** user:password@host without a scheme, after a delimiter. */
const BARE_USERINFO = /(^|[\s"'`(=,;[])([^\s:/@"'`\\]+):([^\s@/"'`\\]+)@(?=[\w[])/g;
/** password=…, sslpassword=…, passwd=, pwd=, …secret=, …token=, api_key= in a query string or a key=value connection string. */
const KEY_VALUE = /(^|[?&;\s"'`(,])([\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key))=([^&\s;#"'`,)]*)/gi;

/**
 * Masks the secrets a string may carry: the password of every URL (`redis://:pw@host`, `postgres://user:pw@host`),
 * a bare `user:pw@host`, and password-like parameters (`?password=…`, `&sslpassword=…`, `password=… ` in a libpq
 * connection string, `?token=`, `?api_key=`). User names and hosts are kept.
 */
export function maskSecrets(text: string): string {
  if (!text) return text;
  return text
    .replace(URL_USERINFO, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return `${scheme}${colon === -1 ? userinfo : `${userinfo.slice(0, colon)}:${MASK}`}@`;
    })
    .replace(BARE_USERINFO, (m, pre: string, user: string, pw: string) => (pw === MASK ? m : `${pre}${user}:${MASK}@`))
    .replace(KEY_VALUE, (_m, pre: string, key: string, value: string) => `${pre}${key}=${value ? MASK : ''}`);
}

/**
 * A copy of a log value with every string masked. An error keeps its class (pino's err serializer names it) with its
 * message, stack, cause and fields masked; one nested deeper, which pino would print as {}, is serialized.
 */
function maskDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return depth <= 1 ? maskError(value, depth) : maskDeep(pino.stdSerializers.err(value), depth + 1);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1));
  if (Buffer.isBuffer(value) || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskDeep(v, depth + 1);
  return out;
}

function maskError(err: Error, depth: number): Error {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Error & Record<string, unknown>;
  for (const k of ['name', 'message', 'stack'] as const) {
    if (typeof err[k] === 'string') Object.defineProperty(copy, k, { value: maskSecrets(err[k]), writable: true, configurable: true, enumerable: false });
  }
  for (const [k, v] of Object.entries(err)) copy[k] = maskDeep(v, depth + 1);
  if (err.cause !== undefined) Object.defineProperty(copy, 'cause',
    { value: err.cause instanceof Error ? maskError(err.cause, depth + 1) : maskDeep(err.cause, depth + 1), writable: true,
    configurable: true, enumerable: false });
  return copy;
}

export function createLogger(opts: { level?: string; format?: 'auto' | 'json' | 'pretty'; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const format = opts.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && !opts.destination && process.stdout.isTTY === true);
  const options: pino.LoggerOptions = {
    name: opts.name ?? 'marketstream',
    level: opts.level ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    formatters: {
      bindings: (bindings) => maskDeep(bindings) as Record<string, unknown>,
      log: (object) => maskDeep(object) as Record<string, unknown>,
    },
    hooks: {
      // The message and interpolated strings; an error logged without a message has its (masked) message as the message.
      logMethod(args, method) {
        let list: unknown[] = args;
        if (list[0] instanceof Error) list = [{ err: list[0] }, ...list.slice(1)];
        const first = list[0] as { err?: unknown } | undefined;
        if (first && typeof first === 'object' && first.err instanceof Error && typeof list[1] !== 'string') list =
          [first, first.err.message, ...list.slice(1)];
        method.apply(this, list.map((a) => (typeof a === 'string' ? maskSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  const logger = pretty
    ? pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } })
    : pino(options, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
  // pino formats only the root's bindings; every child (they all inherit `child` from the root) gets masked ones too.
  const child = logger.child; // unbound: called on the child it is invoked on, so bindings accumulate
  const root = logger as Logger & { child: Logger['child'] };
  root.child = function maskedChild(this: Logger, bindings, childOptions) {
    return child.call(this, maskDeep(bindings) as typeof bindings, childOptions);
  } as Logger['child'];
  return logger;
}

/** Removes the password from a connection URL so it can be logged. */
export function safeUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = MASK;
    for (const key of [...url.searchParams.keys()]) if (/password|passwd|pwd|secret|token|api[_-]?key/i.test(key)) url.searchParams.set(key, MASK);
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}
