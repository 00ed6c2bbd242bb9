// Java-side artifacts of the local stack: a JDK and Maven (from Debian when missing), and runtime jars
// copied from Maven Central into a versioned cache directory, once.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { aptInstall } from './apt.ts';
import { run, which } from './proc.ts';
import type { ServiceContext } from './services/types.ts';

const COMPLETE = '.complete';

/** `<home>/lib-<hash of the pom>`: a changed pom gets a fresh copy of its jars. */
export function libDirFor(home: string, pom: string): string {
  return `${home}/lib-${createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 10)}`;
}

/** Makes sure `java`, `javac` and `mvn` are on PATH. */
export async function ensureJavaTools(ctx: Pick<ServiceContext, 'log' | 'exclusive'>): Promise<void> {
  const missing: string[] = [];
  if (!which('java') || !which('javac')) missing.push('default-jdk-headless');
  if (!which('mvn')) missing.push('maven');
  if (missing.length) await ctx.exclusive('apt', () => aptInstall(missing, ctx.log));
}

/**
 * Copies the runtime dependencies of `pom` into `libDir` (skipped when a previous copy completed).
 * Maven runs are serialized: concurrent runs corrupt the shared ~/.m2 repository.
 */
export async function ensureMavenLib(pom: string, libDir: string, ctx: Pick<ServiceContext, 'log' | 'exclusive'>): Promise<void> {
  if (existsSync(`${libDir}/${COMPLETE}`)) return;
  await ensureJavaTools(ctx);
  await ctx.exclusive('maven', async () => {
    if (existsSync(`${libDir}/${COMPLETE}`)) return;
    const tmp = `${libDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(dirname(libDir), { recursive: true });
    ctx.log(`mvn dependency:copy-dependencies (${pom}) -> ${libDir}`);
    await run('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime']);
    writeFileSync(`${tmp}/${COMPLETE}`, `${new Date().toISOString()}\n`);
    rmSync(libDir, { recursive: true, force: true });
    renameSync(tmp, libDir);
  });
}
