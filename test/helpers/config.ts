// Configuration and a quiet logger for tests: the same loadConfig the product uses, with per-test overrides.
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';

/** loadConfig() over the real environment plus `overrides` (variable name -> raw string). */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** JSON logger at `warn` (or LOG_LEVEL when set) to stderr, so test output stays readable. */
export function testLogger(name = 'test'): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? 'warn', format: 'json', name });
}
