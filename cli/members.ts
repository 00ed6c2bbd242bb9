// Members of a consumer group in their own OS processes, so a group uses every core: `consume <group> --instances N`
// and `run --instances <group>=N` start N children `marketstream consume <group>` (one member each) and supervise them.
// Each child has its own /metrics port (METRICS_PORT + i, or any free port when METRICS_PORT is 0). A child that exits
// unexpectedly is started again after a back-off (its partitions move to the others meanwhile, as with any member that
// leaves); SIGINT/SIGTERM stop every child gracefully, each finishing and committing its batch in flight.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SinkName } from '../consumers/catalog.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';

const CLI = fileURLToPath(new URL('../bin/marketstream.js', import.meta.url));
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/**
 * False in a member process other than the first: work one process of a group does for all of them (the missing-bars
 * gauge) runs in this process alone, or in member 0.
 */
export function isFirstMember(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.MARKETSTREAM_MEMBER ?? '0') === '0';
}

export interface MemberProcesses {
  /** The children's pids, by member index (a restarted member gets a new pid). */
  pids(): number[];
  /** Resolves when every child has exited after SIGTERM (each stops gracefully: batch in flight committed). */
  stop(): Promise<void>;
}

export function startMemberProcesses(o: { group: SinkName; instances: number; config: Config; logger: Logger; env?: NodeJS.ProcessEnv }): MemberProcesses {
  const log = o.logger.child({ group: o.group });
  const children: (ChildProcess | undefined)[] = [];
  const exited: Promise<void>[] = [];
  let stopping = false;

  const start = (i: number, restarts: number): void => {
    const port = o.config.METRICS_PORT === 0 ? 0 : o.config.METRICS_PORT + i;
    const child = spawn(process.execPath, [CLI, 'consume', o.group], {
      env: { ...process.env, ...o.env, METRICS_PORT: String(port), MARKETSTREAM_MEMBER: String(i) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'], // the IPC channel closing tells a member its parent is gone
    });
    children[i] = child;
    const startedAt = Date.now();
    log.info({ member: i, pid: child.pid, metricsPort: port || 'any free port' }, 'member process started');
    exited[i] = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (stopping) { resolve(); return; }
        // A member that ran a while before dying starts again at once; one that keeps dying backs off.
        const again = Date.now() - startedAt > RESTART_MAX_MS ? 0 : restarts + 1;
        const delay = again === 0 ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** again);
        log.error({ member: i, pid: child.pid, code, signal, restartInMs: delay }, 'member process exited unexpectedly; starting it again');
        setTimeout(() => { if (!stopping) { start(i, again); void exited[i]!.then(resolve); } else resolve(); }, delay).unref();
      });
    });
  };
  for (let i = 0; i < o.instances; i++) start(i, 0);

  return {
    pids: () => children.map((c) => c?.pid ?? 0),
    async stop() {
      stopping = true;
      for (const c of children) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await Promise.all(exited);
    },
  };
}
