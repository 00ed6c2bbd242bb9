// A lock file in STACK_DIR so that two `stack up` runs (two terminals, parallel test runs) do not start
// the same server twice; a lock left by a process that is gone is taken over.
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function holder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Runs `fn` while holding `file`; waits (up to `timeoutMs`) while another live process holds it. */
export async function withLockFile<T>(file: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: (pid: number) => void } = {}): Promise<T> {
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + (opts.timeoutMs ?? 900_000);
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = holder(file);
      if (pid === undefined || !alive(pid)) { rmSync(file, { force: true }); continue; }
      if (Date.now() > deadline) throw new Error(`${file} is held by pid ${pid}`);
      if (!told) { opts.onWait?.(pid); told = true; }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    if (holder(file) === process.pid) rmSync(file, { force: true });
  }
}
