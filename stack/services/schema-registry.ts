// Schema Registry: AxonOps Schema Registry (Go, Confluent REST API) on 127.0.0.1:8081, built once from the
// Go module proxy into the cache, storing schemas in the stack's PostgreSQL (database schemaregistry) so ids survive restarts.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StackPaths } from '../paths.ts';
import { probeRegistry } from '../probes.ts';
import { run, spawnDetached, which } from '../proc.ts';
import { POSTGRES_HOST, POSTGRES_PASSWORD, POSTGRES_PORT, POSTGRES_USER } from './postgres.ts';
import { endpoint, type StackService } from './types.ts';

export const REGISTRY_VERSION = 'v0.2.1';
export const REGISTRY_MODULE = 'github.com/axonops/axonops-schema-registry';
export const REGISTRY_HOST = '127.0.0.1';
export const REGISTRY_PORT = 8081;
export const REGISTRY_URL = `http://${REGISTRY_HOST}:${REGISTRY_PORT}`;

export function registryConfig(): Record<string, unknown> {
  return {
    server: { host: REGISTRY_HOST, port: REGISTRY_PORT },
    storage: {
      type: 'postgresql',
      postgresql: { host: POSTGRES_HOST, port: POSTGRES_PORT, database: 'schemaregistry', user: POSTGRES_USER,
        password: POSTGRES_PASSWORD, ssl_mode: 'disable' },
    },
    compatibility: { default_level: 'BACKWARD' },
    logging: { level: 'info', format: 'json' },
  };
}

export function createSchemaRegistryService(paths: StackPaths): StackService {
  const home = join(paths.cache, `schema-registry-${REGISTRY_VERSION}`);
  const bin = join(home, 'schema-registry');
  const dir = paths.data('schema-registry');
  const configFile = join(dir, 'config.yaml');

  return {
    ...endpoint('schema-registry', REGISTRY_HOST, REGISTRY_PORT, ['postgres']),
    processMatch: bin,
    stopSignal: 'SIGTERM',

    async ensure(ctx) {
      if (existsSync(bin)) return;
      const go = which('go') ?? which('go', '/usr/local/go/bin:/usr/lib/go/bin');
      if (!go) throw new Error('the Schema Registry is built with Go (>= 1.24), and `go` is not on PATH: install Go and run stack up again');
      // `go install …@version` fails against the module proxy here (its version-list lookup is refused);
      // `go get` in a throwaway module followed by `go build` works.
      const build = join(home, 'build');
      mkdirSync(build, { recursive: true });
      const env = { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
      if (!existsSync(join(build, 'go.mod'))) await run(go, ['mod', 'init', 'marketstream/registry-build'], { cwd: build, env });
      ctx.log(`go build ${REGISTRY_MODULE}@${REGISTRY_VERSION} -> ${bin}`);
      await run(go, ['get', `${REGISTRY_MODULE}/cmd/schema-registry@${REGISTRY_VERSION}`], { cwd: build, env });
      const tmp = `${bin}.tmp-${process.pid}`;
      await run(go, ['build', '-o', tmp, `${REGISTRY_MODULE}/cmd/schema-registry`], { cwd: build, env });
      renameSync(tmp, bin);
      rmSync(build, { recursive: true, force: true });
    },

    async start() {
      mkdirSync(dir, { recursive: true });
      writeFileSync(configFile, stringify(registryConfig()), { mode: 0o600 });
      return spawnDetached(bin, ['-config', configFile], { logFile: paths.log('schema-registry'), cwd: dir });
    },

    isHealthy: () => probeRegistry(REGISTRY_URL),
  };
}
