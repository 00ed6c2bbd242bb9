// pino: JSON by default, pretty on a terminal; secrets redacted wherever they appear in a log object.
import { pino, type Logger } from 'pino';

export type { Logger };

const redactPaths = [
  'password', '*.password', 'apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization',
  'sasl.password', 'config.KAFKA_SASL_PASSWORD', 'config.SCHEMA_REGISTRY_PASSWORD', 'config.NEO4J_PASSWORD', 'config.ANTHROPIC_API_KEY',
];

export function createLogger(opts: { level?: string; format?: 'auto' | 'json' | 'pretty'; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const format = opts.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && !opts.destination && process.stdout.isTTY === true);
  const options = { name: opts.name ?? 'marketstream', level: opts.level ?? 'info', redact: { paths: redactPaths, censor: '[redacted]' } };
  if (pretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } });
  return pino(options, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
}

/** Removes user:password from a connection URL so it can be logged. */
export function safeUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable url>';
  }
}
