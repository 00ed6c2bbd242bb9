// Writer schemas by id, kept on disk once fetched from the registry: a schema id never changes what it names within one
// registry, so a record whose schema was seen once stays decodable while the registry is down, also in a freshly
// started process. The disk copy is used only when the registry cannot answer: a registry recreated at the same address
// (new storage) numbers its schemas from 1 again, and its answer wins over what an earlier one said.
// One folder per registry (ids are per registry): <SCHEMA_CACHE_DIR>/<sha256 of the registry URL, 16 hex>/<id>.json.
// Writes are atomic (temporary file, then rename); a folder that cannot be written only costs the persistence.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Config } from './config.ts';

export interface SchemaCache {
  /** The schema text of `id` as this process fetched it from the registry (put), or undefined. */
  get(id: number): string | undefined;
  /**
   * The schema text of `id` as kept on disk by an earlier fetch (any process), or undefined. Only for when the registry
   * cannot answer: a registry recreated at the same address numbers its schemas again from 1.
   */
  stored(id: number): string | undefined;
  put(id: number, schema: string): void;
  readonly dir: string;
}

export function schemaCacheDir(config: Pick<Config, 'SCHEMA_CACHE_DIR' | 'SCHEMA_REGISTRY_URL'>): string {
  const root = config.SCHEMA_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'marketstream', 'schemas');
  const registry = createHash('sha256').update(new URL(config.SCHEMA_REGISTRY_URL).origin).digest('hex').slice(0, 16);
  return path.join(root, registry);
}

export function createSchemaCache(config: Pick<Config, 'SCHEMA_CACHE_DIR' | 'SCHEMA_REGISTRY_URL'>, onWriteError?: (err: unknown) => void): SchemaCache {
  const dir = schemaCacheDir(config);
  const memory = new Map<number, string>();
  const file = (id: number) => path.join(dir, `${id}.json`);
  let writable = true;
  return {
    dir,
    get: (id) => memory.get(id),
    stored(id) {
      try { return (JSON.parse(readFileSync(file(id), 'utf8')) as { schema: string }).schema; } catch { return undefined; }
    },
    put(id, schema) {
      memory.set(id, schema);
      if (!writable) return;
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${file(id)}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ id, schema }));
        renameSync(tmp, file(id));
      } catch (err) {
        writable = false;
        onWriteError?.(err);
      }
    },
  };
}
