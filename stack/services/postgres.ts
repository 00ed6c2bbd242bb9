// PostgreSQL 15 from Debian on 127.0.0.1:5432: initdb once (as the `postgres` user when we are root),
// run the postmaster detached, then create the marketstream role and the marketstream and schemaregistry databases.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { aptInstall } from '../apt.ts';
import { pathHash, type StackPaths } from '../paths.ts';
import { probePostgres } from '../probes.ts';
import { run, spawnDetached } from '../proc.ts';
import { endpoint, type ServiceContext, type StackService } from './types.ts';

export const POSTGRES_HOST = '127.0.0.1';
export const POSTGRES_PORT = 5432;
export const POSTGRES_SOCKET_DIR = '/tmp';
export const POSTGRES_USER = 'marketstream';
export const POSTGRES_PASSWORD = 'marketstream';
export const POSTGRES_DATABASES = ['marketstream', 'schemaregistry'] as const;
export const POSTGRES_URL = `postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/marketstream`;

/** The newest /usr/lib/postgresql/<v>/bin holding initdb, preferring 15. */
function findBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  const chosen = versions.includes('15') ? '15' : versions[0];
  return chosen ? join(base, chosen, 'bin') : undefined;
}

/** uid/gid of the `postgres` user when we run as root (PostgreSQL refuses to run as root). */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid) throw new Error('running as root but there is no `postgres` user to run PostgreSQL as (apt-get install postgresql creates it)');
  return { uid: Number(uid), gid: Number(gid) };
}

export function createPostgresService(paths: StackPaths): StackService {
  let binDir = findBinDir();
  // Where the data dir lives when it is not the default one (see prepareDataDir); read by status and down too.
  const pointer = join(paths.data('postgres'), 'data-dir');
  let dataDir = existsSync(pointer) ? readFileSync(pointer, 'utf8').trim() : join(paths.data('postgres'), 'data');

  /** The data dir, chowned to `postgres`; falls back outside the project if that user cannot reach it. */
  async function prepareDataDir(id: { uid: number; gid: number } | undefined): Promise<void> {
    mkdirSync(dirname(dataDir), { recursive: true });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!id) return;
    chownSync(dataDir, id.uid, id.gid);
    const reachable = await run('test', ['-w', dataDir, '-a', '-x', dataDir], { uid: id.uid, gid: id.gid }).then(() => true, () => false);
    if (reachable) return;
    dataDir = join('/var/lib/marketstream', pathHash(paths.root), 'postgres');
    mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chownSync(dataDir, id.uid, id.gid);
    writeFileSync(pointer, `${dataDir}\n`);
  }

  async function superuserClient(): Promise<pg.Client> {
    const client = new pg.Client({ host: POSTGRES_SOCKET_DIR, port: POSTGRES_PORT, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  async function provision(ctx: ServiceContext): Promise<void> {
    let client: pg.Client | undefined;
    while (!client) {
      try { client = await superuserClient(); } catch (err) {
        if (Date.now() > ctx.deadline) throw new Error(`PostgreSQL did not accept connections (see ${paths.log('postgres')})`, { cause: err });
        await sleep(300);
      }
    }
    try {
      // Identifiers cannot be bound as parameters; these are constants of this module.
      const role = await client.query('select 1 from pg_roles where rolname = $1', [POSTGRES_USER]);
      if (role.rowCount === 0) {
        await client.query(`create role ${POSTGRES_USER} login password '${POSTGRES_PASSWORD}'`);
      }
      for (const db of POSTGRES_DATABASES) {
        const exists = await client.query('select 1 from pg_database where datname = $1', [db]);
        if (exists.rowCount === 0) await client.query(`create database ${db} owner ${POSTGRES_USER}`);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  return {
    ...endpoint('postgres', POSTGRES_HOST, POSTGRES_PORT),
    get processMatch() { return dataDir; },
    // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
    stopSignal: 'SIGINT',

    async ensure(ctx) {
      if (!binDir) {
        await ctx.exclusive('apt', () => aptInstall(['postgresql'], ctx.log));
        binDir = findBinDir();
        if (!binDir) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql after installing postgresql');
      }
      await prepareDataDir(serverIdentity());
    },

    async start(ctx) {
      const id = serverIdentity();
      const bin = binDir as string;
      if (!existsSync(join(dataDir, 'PG_VERSION'))) {
        ctx.log(`initdb ${dataDir}`);
        await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256'],
          { uid: id?.uid, gid: id?.gid, logFile: paths.log('postgres'), cwd: '/' });
      }
      return spawnDetached(join(bin, 'postgres'),
        ['-D', dataDir, '-h', POSTGRES_HOST, '-p', String(POSTGRES_PORT), '-k', POSTGRES_SOCKET_DIR, '-c', 'max_connections=200'],
        { uid: id?.uid, gid: id?.gid, logFile: paths.log('postgres'), cwd: '/' });
    },

    afterStart: provision,

    isHealthy: () => probePostgres(POSTGRES_URL),
  };
}
