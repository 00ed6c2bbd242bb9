// Secrets masked in every form a URL or a connection string carries them (lib/logger.ts maskSecrets), in
// `marketstream config` (effectiveValues) and in every log line: message, fields, child bindings, error messages,
// causes and stacks (drivers' error texts can echo the connection string they were given).
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { effectiveValues } from '../../lib/config-docs.ts';
import { createLogger, maskSecrets, safeUrl } from '../../lib/logger.ts';

describe('maskSecrets', () => {
  it.each([
    ['redis://:hunter2@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['rediss://sink:hunter2@cache:6380', 'rediss://sink:***@cache:6380'],
    ['postgres://sink:hunter2@db:5432/marketstream', 'postgres://sink:***@db:5432/marketstream'],
    ['postgres://sink:hun%40ter2@db/x', 'postgres://sink:***@db/x'],
    ['redis://:hun@ter2@cache:6379', 'redis://:***@cache:6379'], // an unencoded @: the userinfo runs to the last one
    ['bolt+s://neo4j:hunter2@graph:7687', 'bolt+s://neo4j:***@graph:7687'],
    ['postgres://db:5432/x?sslmode=require&password=hunter2', 'postgres://db:5432/x?sslmode=require&password=***'],
    ['postgres://db/x?password=hunter2&application_name=ms', 'postgres://db/x?password=***&application_name=ms'],
    ['postgres://u@db/x?sslmode=verify-full&sslpassword=hunter2', 'postgres://u@db/x?sslmode=verify-full&sslpassword=***'],
    ['host=db user=sink password=hunter2 dbname=x', 'host=db user=sink password=*** dbname=x'],
    ['connecting to sink:hunter2@db:5432 failed', 'connecting to sink:***@db:5432 failed'],
    ['https://registry/subjects?api_key=hunter2', 'https://registry/subjects?api_key=***'],
    ['connect ECONNREFUSED "redis://:hunter2@cache:6379", then "a@b"', 'connect ECONNREFUSED "redis://:***@cache:6379", then "a@b"'],
  ])('%s → %s', (text, masked) => {
    expect(maskSecrets(text)).toBe(masked);
  });

  it.each(['redis://127.0.0.1:6379', 'bolt://127.0.0.1:7687', 'postgres://sink@db/x', 'https://registry:8081/subjects', 'at 12:30:00 nothing',
    'mail me@example.com', ''])('leaves %j as it is', (text) => {
    expect(maskSecrets(text)).toBe(text);
  });

  it('safeUrl masks the password and password-like parameters of one URL', () => {
    expect(safeUrl('postgres://sink:hunter2@db/x?sslpassword=hunter3')).toBe('postgres://sink:***@db/x?sslpassword=***');
    expect(safeUrl('not a url')).toBe('<unparseable url>');
  });
});

describe('marketstream config (effectiveValues)', () => {
  it('masks the secret variables and every password in a URL variable', () => {
    const v = effectiveValues(loadConfig({
      POSTGRES_URL: 'postgres://sink:pg-hunter2@db:5432/x?sslpassword=pg-hunter3',
      REDIS_URL: 'redis://:redis-hunter2@cache:6379',
      SCHEMA_REGISTRY_URL: 'https://u:reg-hunter2@registry:8081',
      NEO4J_PASSWORD: 'neo-hunter2', ANTHROPIC_API_KEY: 'sk-ant-hunter2', KAFKA_SASL_PASSWORD: 'sasl-hunter2',
    }));
    expect(JSON.stringify(v)).not.toMatch(/hunter/);
    expect(v.POSTGRES_URL).toBe('postgres://sink:***@db:5432/x?sslpassword=***');
    expect(v.REDIS_URL).toBe('redis://:***@cache:6379');
    expect(v.SCHEMA_REGISTRY_URL).toBe('https://u:***@registry:8081');
    expect([v.NEO4J_PASSWORD, v.ANTHROPIC_API_KEY, v.KAFKA_SASL_PASSWORD]).toEqual(['***', '***', '***']);
  });
});

describe('the logger', () => {
  function capture(level = 'debug') {
    const lines: string[] = [];
    const logger = createLogger({ level, format: 'json',
      destination: { write: (s: string) => { lines.push(s); return true; } } as unknown as NodeJS.WritableStream });
    return { logger, text: () => lines.join(''), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  it('masks passwords in the message, fields, nested fields and child bindings', () => {
    const { logger, text, records } = capture();
    logger.info({ url: 'redis://:f1-hunter2@cache:6379', nested: { conn: 'host=db password=f2-hunter2' }, list: ['postgres://u:f3-hunter2@db/x'] },
      'connecting to postgres://u:m1-hunter2@db/x');
    logger.child({ store: 'postgres://u:b1-hunter2@db/x' }).child({ cache: 'redis://:b2-hunter2@cache' }).warn('interpolated %s', 'redis://:i1-hunter2@cache');
    expect(text()).not.toMatch(/hunter2/);
    const [first, second] = records();
    expect(first).toMatchObject({ url: 'redis://:***@cache:6379', nested: { conn: 'host=db password=***' }, list: ['postgres://u:***@db/x'],
      msg: 'connecting to postgres://u:***@db/x' });
    expect(second).toMatchObject({ store: 'postgres://u:***@db/x', cache: 'redis://:***@cache', msg: 'interpolated redis://:***@cache' });
  });

  it('masks errors — message, stack, cause, fields — and keeps their class; an error logged alone has its masked message as the message', () => {
    const { logger, text, records } = capture();
    class DriverError extends Error { code = '28P01'; target = 'postgres://u:e3-hunter2@db/x'; }
    const err = new DriverError('password authentication failed (postgres://u:e1-hunter2@db/x)', { cause: new Error('socket redis://:e2-hunter2@cache') });
    logger.error(err);
    logger.warn({ err }, 'store write failed');
    logger.warn({ detail: { err } }, 'nested');
    expect(text()).not.toMatch(/hunter2/);
    const [alone, keyed, nested] = records() as Array<{ err?: Record<string, unknown>; msg: string; detail?: { err: Record<string, unknown> } }>;
    expect(alone!.msg).toBe('password authentication failed (postgres://u:***@db/x)');
    expect(alone!.err).toMatchObject({ type: 'DriverError', code: '28P01', target: 'postgres://u:***@db/x' });
    expect(String(alone!.err!.stack)).toMatch(/^Error: password authentication failed \(postgres:\/\/u:\*\*\*@db\/x\)/);
    expect(keyed).toMatchObject({ msg: 'store write failed', err: { type: 'DriverError', message: expect.stringContaining('postgres://u:***@db/x') } });
    expect(nested!.detail!.err).toMatchObject({ type: 'DriverError', message: expect.stringContaining('***') });
  });

  it('still redacts secret fields by name', () => {
    const { logger, records } = capture();
    logger.info({ password: 'p-hunter2', config: { NEO4J_PASSWORD: 'n-hunter2' },
      headers: { authorization: 'Basic aHVudGVyMg==', 'x-api-key': 'sk-ant-hunter2' } }, 'redact');
    expect(records()[0]).toMatchObject({ password: '[redacted]', config: { NEO4J_PASSWORD: '[redacted]' },
      headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' } });
  });
});
