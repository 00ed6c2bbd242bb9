// Redis 7 from Debian on 127.0.0.1:6379, in the foreground under our pid file, data dir in STACK_DIR, no persistence.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall } from '../apt.ts';
import type { StackPaths } from '../paths.ts';
import { probeRedis } from '../probes.ts';
import { spawnDetached, which } from '../proc.ts';
import { endpoint, type StackService } from './types.ts';

export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

export function createRedisService(paths: StackPaths): StackService {
  const dir = paths.data('redis');
  const confFile = join(dir, 'redis.conf');
  let bin = which('redis-server') ?? which('redis-server', '/usr/bin:/usr/local/bin');

  return {
    ...endpoint('redis', REDIS_HOST, REDIS_PORT),
    processMatch: 'redis-server',
    stopSignal: 'SIGTERM',

    async ensure(ctx) {
      if (!bin) {
        await ctx.exclusive('apt', () => aptInstall(['redis-server'], ctx.log));
        bin = which('redis-server', '/usr/bin:/usr/local/bin');
        if (!bin) throw new Error('redis-server not found after installing redis-server');
      }
    },

    async start() {
      mkdirSync(dir, { recursive: true });
      writeFileSync(confFile, [
        `bind ${REDIS_HOST}`,
        `port ${REDIS_PORT}`,
        'daemonize no',
        'protected-mode yes',
        `dir ${dir}`,
        'appendonly no',
        'save ""',
        'logfile ""',
        '',
      ].join('\n'));
      return spawnDetached(bin as string, [confFile], { logFile: paths.log('redis'), cwd: dir });
    },

    isHealthy: () => probeRedis(REDIS_URL),
  };
}
