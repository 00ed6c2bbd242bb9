// What every command needs first: validated configuration and a logger. Bad config exits 2 with the message.
import { loadConfig, type Config } from '../lib/config.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { ConfigError } from '../lib/errors.ts';

export interface Context { config: Config; logger: Logger }

export function loadContext(name = 'marketstream'): Context {
  try {
    const config = loadConfig();
    return { config, logger: createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name }) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
