// A second, private Schema Registry for fault tests: the same AxonOps binary the local stack runs, on a free port,
// storing its schemas in the configured PostgreSQL (database schemaregistry, so ids agree with the main registry),
// optionally through a TCP proxy so a test can take its storage away. Killing it never touches the shared stack.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../../lib/config.ts';
import { cacheRoot, stackPaths } from '../../stack/paths.ts';
import { probeRegistry } from '../../stack/probes.ts';
import { createSchemaRegistryService, registryConfig, REGISTRY_VERSION } from '../../stack/services/schema-registry.ts';
import { waitFor } from './wait.ts';

export interface TestRegistry {
  readonly url: string;
  /** SIGKILL, as a crash or an operator's kill would. */
  kill(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts a registry whose storage is the configured PostgreSQL, reached at `postgresPort` (a proxy's) when given. */
export async function startTestRegistry(config: Config, opts: { postgresPort?: number } = {}): Promise<TestRegistry> {
  const bin = path.join(cacheRoot(), `schema-registry-${REGISTRY_VERSION}`, 'schema-registry');
  if (!existsSync(bin)) {
    await createSchemaRegistryService(stackPaths('.stack')).ensure({ paths: stackPaths('.stack'), log: () => {}, exclusive: (_w, fn) => fn(),
      deadline: Date.now() + 600_000 });
  }
  const pg = new URL(config.POSTGRES_URL);
  const port = await freePort();
  const base = registryConfig() as { storage: { postgresql: Record<string, unknown> } };
  const yaml = {
    ...base,
    server: { host: '127.0.0.1', port },
    storage: {
      type: 'postgresql',
      postgresql: {
        ...base.storage.postgresql,
        host: pg.hostname, port: opts.postgresPort ?? Number(pg.port || 5432),
        user: decodeURIComponent(pg.username), password: decodeURIComponent(pg.password),
      },
    },
    logging: { level: 'warn', format: 'json' },
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'test-registry-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, stringify(yaml), { mode: 0o600 });
  const child: ChildProcess = spawn(bin, ['-config', file], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => probeRegistry(url), { what: `the test schema registry on ${url}`, timeoutMs: 30_000 });
  return {
    url,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
