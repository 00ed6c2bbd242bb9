// Neo4j 5.26 community, embedded by a small Java launcher with only Bolt on 127.0.0.1:7687; jars and the
// compiled launcher cached per version, the database under STACK_DIR. Embedded Neo4j asks no password.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ensureJavaTools, ensureMavenLib, libDirFor } from '../java.ts';
import { stackSourceDir, type StackPaths } from '../paths.ts';
import { probeNeo4j } from '../probes.ts';
import { run, spawnDetached } from '../proc.ts';
import { endpoint, type StackService } from './types.ts';

export const NEO4J_VERSION = '5.26.18';
export const NEO4J_HOST = '127.0.0.1';
export const NEO4J_PORT = 7687;
export const NEO4J_URL = `bolt://${NEO4J_HOST}:${NEO4J_PORT}`;
export const NEO4J_USER = 'neo4j';
export const NEO4J_PASSWORD = 'marketstream';

export function createNeo4jService(paths: StackPaths): StackService {
  const home = join(paths.cache, `neo4j-${NEO4J_VERSION}`);
  const pom = join(stackSourceDir, 'neo4j', 'pom.xml');
  const lib = libDirFor(home, pom);
  const source = join(stackSourceDir, 'neo4j', 'Launcher.java');
  // Keyed by the launcher's source too, so an edited launcher is recompiled.
  const classes = join(home, `classes-${createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 10)}`);
  const dir = paths.data('neo4j');

  return {
    ...endpoint('neo4j', NEO4J_HOST, NEO4J_PORT),
    processMatch: dir,
    stopSignal: 'SIGTERM',

    async ensure(ctx) {
      await ensureMavenLib(pom, lib, ctx);
      if (existsSync(join(classes, 'Launcher.class'))) return;
      await ensureJavaTools(ctx);
      const tmp = `${classes}.tmp-${process.pid}`;
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp, { recursive: true });
      copyFileSync(source, join(tmp, 'Launcher.java'));
      ctx.log('javac Launcher.java');
      await run('javac', ['-cp', `${lib}/*`, '-d', tmp, join(tmp, 'Launcher.java')]);
      rmSync(classes, { recursive: true, force: true });
      renameSync(tmp, classes);
    },

    async start() {
      mkdirSync(dir, { recursive: true });
      return spawnDetached('java', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true', '-cp', `${classes}:${lib}/*`, 'Launcher', dir, NEO4J_HOST, String(NEO4J_PORT)],
        { logFile: paths.log('neo4j'), cwd: dir });
    },

    isHealthy: () => probeNeo4j(NEO4J_URL, NEO4J_USER, NEO4J_PASSWORD),
  };
}
