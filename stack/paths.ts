// Where the local stack keeps things: data, logs and pid files under STACK_DIR (in the project),
// downloaded and built artifacts in a per-user cache outside it, keyed by version.
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The repository root (this file lives in <root>/stack). */
export const projectRoot = resolve(import.meta.dirname, '..');

/** Files shipped with the project for the stack (poms, launcher source, log config). */
export const stackSourceDir = join(projectRoot, 'stack');

export function resolveStackDir(stackDir: string): string {
  return isAbsolute(stackDir) ? stackDir : resolve(projectRoot, stackDir);
}

/** `${XDG_CACHE_HOME:-$HOME/.cache}/marketstream`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'marketstream');
}

/** Short stable hash of a path, for directories that must be unique per project checkout. */
export function pathHash(p: string): string {
  return createHash('sha256').update(p).digest('hex').slice(0, 12);
}

export interface StackPaths {
  /** Absolute STACK_DIR. */
  root: string;
  logs: string;
  pids: string;
  /** Per-service data directory. */
  data: (service: string) => string;
  log: (service: string) => string;
  pid: (service: string) => string;
  cache: string;
}

export function stackPaths(stackDir: string): StackPaths {
  const root = resolveStackDir(stackDir);
  const logs = join(root, 'logs');
  const pids = join(root, 'pids');
  return {
    root,
    logs,
    pids,
    data: (s) => join(root, s),
    log: (s) => join(logs, `${s}.log`),
    pid: (s) => join(pids, `${s}.pid`),
    cache: cacheRoot(),
  };
}
