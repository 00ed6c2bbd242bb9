// Process plumbing for the local stack: run a command to completion, start a detached server with its
// output in a log file, pid files, and stopping a recorded pid (never a process found by name).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError } from '../lib/errors.ts';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Appended to (stdout and stderr) instead of being captured. */
  logFile?: string;
}

/** Runs a command to completion; rejects with the tail of its output when it exits non-zero. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const fd = opts.logFile ? openLog(opts.logFile) : undefined;
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
    });
    if (fd !== undefined) closeSync(fd);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', (err) => reject(new CommandError(`${cmd}: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(out);
      else {
        const where = opts.logFile ? ` (see ${opts.logFile})` : `:\n${out.trim().split('\n').slice(-15).join('\n')}`;
        reject(new CommandError(`${cmd} ${args.join(' ')} failed with ${signal ?? `exit code ${code}`}${where}`));
      }
    });
  });
}

function openLog(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  return openSync(file, 'a');
}

/** Starts a long-running server detached from this process, stdio to `logFile`; returns its pid. */
export function spawnDetached(cmd: string, args: string[], opts: RunOptions & { logFile: string }): number {
  const fd = openLog(opts.logFile);
  writeFileSync(fd, `\n--- ${new Date().toISOString()} starting: ${cmd} ${args.join(' ')}\n`);
  try {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      uid: opts.uid,
      gid: opts.gid,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', () => { /* reported by the readiness wait, which names the log */ });
    if (child.pid === undefined) throw new CommandError(`could not start ${cmd} (see ${opts.logFile})`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function writePid(file: string, pid: number): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${pid}\n`);
}

export function removePid(file: string): void {
  rmSync(file, { force: true });
}

/**
 * True when `pid` runs and its command line contains `match` (guards against a recycled pid).
 * A zombie counts as gone.
 */
export function isRunning(pid: number, match: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return cmdline.includes(match);
  } catch {
    return false;
  }
}

/** Sends `signal`, waits up to `timeoutMs` for the process to go, then SIGKILLs it. */
export async function stopProcess(pid: number, match: string, signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 30_000): Promise<'stopped' | 'killed' | 'not running'> {
  if (!isRunning(pid, match)) return 'not running';
  try { process.kill(pid, signal); } catch { return 'not running'; }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid, match)) return 'stopped';
    await sleep(200);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  for (let i = 0; i < 50 && isRunning(pid, match); i++) await sleep(100);
  return 'killed';
}

/** Serializes async work that must not overlap (Maven's local repository, apt). */
export function createLock(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

/** Finds an executable on PATH. */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(':')) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}
