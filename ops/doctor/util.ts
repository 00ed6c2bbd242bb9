// Small helpers of the doctor checks: a time limit on anything that talks to a server, and addresses compared with
// the local stack's.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { LocalStackServer, ServerName } from './types.ts';

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown; timedOut: boolean };

/** Resolves with the outcome of `p`, or as timed out after `ms`; never rejects. `p` is left to finish on its own. */
export function settle<T>(p: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled<T>>((res) => {
    timer = setTimeout(() => res({ ok: false, error: undefined, timedOut: true }), ms);
  });
  const outcome = p.then((value): Settled<T> => ({ ok: true, value }), (error: unknown): Settled<T> => ({ ok: false, error, timedOut: false }));
  return Promise.race([outcome, timeout]).finally(() => clearTimeout(timer));
}

/** Best effort cleanup bounded in time (a driver's close can wait on a dead connection). */
export async function closeQuietly(close: () => Promise<unknown> | unknown, ms = 2000): Promise<void> {
  await settle(Promise.resolve().then(close), ms);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** host:port of a URL (the protocol's usual port when none is given). */
export function urlAddress(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port ? Number(u.port) : defaultPort };
}

/**
 * The local stack's server of this name that `addresses` point at (loopback, same port); with several (Kafka nodes),
 * one whose process runs first.
 */
export function localServerAt(local: readonly LocalStackServer[] | undefined, name: ServerName,
  addresses: ReadonlyArray<{ host: string; port: number }>): LocalStackServer | undefined {
  const same = (s: LocalStackServer, a: { host: string; port: number }) =>
    a.port === s.port && (a.host === s.host || (LOOPBACK.has(a.host) && LOOPBACK.has(s.host)));
  const matches = (local ?? []).filter((s) => s.name === name && addresses.some((a) => same(s, a)));
  return matches.find((s) => s.running) ?? matches[0];
}

/** An executable found on PATH, then in `extraDirs`. */
export function findExecutable(name: string, extraDirs: readonly string[] = [], path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(':'), ...extraDirs]) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/** Runs a program (no shell) and resolves with its stdout and stderr together; rejects on a non-zero exit or after `timeoutMs`. */
export function runVersionCommand(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // A neutral cwd: `go version` inside a module could otherwise try to switch toolchains.
    execFile(file, [...args], { timeout: timeoutMs, cwd: tmpdir(), env: { ...process.env, GOTOOLCHAIN: 'local' }, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
      if (err) reject(err);
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** Numeric parts of a dotted version: `17.0.15` → [17, 0, 15]. */
export function versionParts(v: string): number[] {
  return v.split(/[.+_-]/).map((p) => Number.parseInt(p, 10)).filter((n) => Number.isFinite(n));
}

/** a >= b, comparing dotted versions part by part. */
export function versionAtLeast(a: string, b: string): boolean {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}
