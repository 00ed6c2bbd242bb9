// `stack status` output and `stack down`'s pid safety: no servers needed.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../cli/commands/stack.ts';
import { isRunning, stopProcess } from '../../stack/proc.ts';

describe('stack status output', () => {
  it('prints one line per service with pid or external, and the healthy count', () => {
    const out = formatStatus([
      { name: 'kafka', address: '127.0.0.1:9092', healthy: true, pid: 42, external: false, logFile: '/x/kafka.log' },
      { name: 'redis', address: '127.0.0.1:6379', healthy: true, pid: undefined, external: true, logFile: '/x/redis.log' },
      { name: 'neo4j', address: '127.0.0.1:7687', healthy: false, pid: undefined, external: false, logFile: '/x/neo4j.log' },
    ]);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^kafka\s+127\.0\.0\.1:9092\s+healthy\s+pid 42$/);
    expect(lines[1]).toMatch(/^redis\s+127\.0\.0\.1:6379\s+healthy\s+external$/);
    expect(lines[2]).toMatch(/^neo4j\s+127\.0\.0\.1:7687\s+not healthy/);
    expect(lines[3]).toBe('2/3 healthy');
  });
});

describe('stopping a recorded pid', () => {
  it('leaves a process alone when its command line does not match, and stops it when it does', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid as number;
    try {
      expect(await stopProcess(pid, 'kafka.Kafka')).toBe('not running');
      expect(isRunning(pid, 'sleep')).toBe(true);
      expect(await stopProcess(pid, 'sleep', 'SIGTERM', 5000)).toBe('stopped');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
