// Neo4j 5.26 community, embedded by a small Java launcher with only Bolt on 127.0.0.1:7687; jars and the
// compiled launcher cached per version, the database under STACK_DIR. Authentication is on, as in the Docker image:
// the launcher gives the configured NEO4J_USER the configured NEO4J_PASSWORD at every start (so a data directory
// created while auth was off is migrated), and the health probe logs in with them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ensureJavaTools, ensureMavenLib, libDirFor } from '../java.ts';
import { loadConfig } from '../../lib/config.ts';
import { stackSourceDir, type StackPaths } from '../paths.ts';
import { probeNeo4j } from '../probes.ts';
import { run, spawnDetached } from '../proc.ts';
import { endpoint, type StackService } from './types.ts';

export const NEO4J_VERSION = '5.26.18';
export const NEO4J_HOST = '127.0.0.1';
export const NEO4J_PORT = 7687;
export const NEO4J_URL = `bolt://${NEO4J_HOST}:${NEO4J_PORT}`;

export function createNeo4jService(paths: StackPaths, credentials: { user: string; password: string } = neo4jCredentials()): StackService {
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
      // The credentials go in the environment, not the command line (which `ps` shows).
      return spawnDetached('java', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true', '-cp', `${classes}:${lib}/*`, 'Launcher', dir,
        NEO4J_HOST, String(NEO4J_PORT)],
        { logFile: paths.log('neo4j'), cwd: dir, env: { ...process.env, NEO4J_USER: credentials.user, NEO4J_PASSWORD: credentials.password } });
    },

    isHealthy: () => probeNeo4j(NEO4J_URL, credentials.user, credentials.password),
  };
}

/** NEO4J_USER and NEO4J_PASSWORD as configured (defaults neo4j / marketstream, as docker-compose.kafka.yml). */
function neo4jCredentials(): { user: string; password: string } {
  const { NEO4J_USER, NEO4J_PASSWORD } = loadConfig();
  return { user: NEO4J_USER, password: NEO4J_PASSWORD };
}
