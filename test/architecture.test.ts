// The layering, checked from the import statements: dependencies point one way, from the CLI down.
//   cli → ops → consumers, producers → lib → topics → schemas      (stack, bench: beside cli, may use anything below)
// consumers and producers never import each other; topics never imports lib (lib reads topics, not the reverse).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LAYERS = ['cli', 'ops', 'consumers', 'producers', 'lib', 'topics', 'schemas', 'stack'] as const;
type Layer = (typeof LAYERS)[number];

/** What each folder may import from (besides itself and packages). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  cli: ['ops', 'consumers', 'producers', 'lib', 'topics', 'schemas', 'stack'],
  ops: ['consumers', 'producers', 'lib', 'topics', 'schemas'],
  consumers: ['lib', 'topics', 'schemas'],
  producers: ['lib', 'topics', 'schemas'],
  lib: ['topics', 'schemas'],
  topics: ['schemas'],
  schemas: [],
  stack: ['lib'],
};

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

function imports(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => path.relative(root, path.resolve(path.dirname(path.join(root, file)), s)));
}

const layerOf = (file: string) => file.split(path.sep)[0] as Layer;

describe('architecture', () => {
  const edges = LAYERS.flatMap((layer) => sources(layer).flatMap((file) => imports(file).map((to) => ({ file, from: layer, to }))));

  it('finds the source tree', () => {
    expect(edges.length).toBeGreaterThan(200);
  });

  it.each(LAYERS)('%s imports only from the layers below it', (layer) => {
    const wrong = edges
      .filter((e) => e.from === layer)
      .filter((e) => (LAYERS as readonly string[]).includes(layerOf(e.to)) && layerOf(e.to) !== layer && !ALLOWED[layer].includes(layerOf(e.to)))
      .map((e) => `${e.file} → ${e.to}`);
    expect(wrong).toEqual([]);
  });
});

describe('store drivers', () => {
  const drivers = { postgres: 'pg', redis: 'ioredis', neo4j: 'neo4j-driver' } as const;
  const packagesOf = (file: string) => [...readFileSync(path.join(root, file), 'utf8').matchAll(/(?:from\s+|import\s+)'([^.'][^']*)'/g)].map((m) => m[1]!);

  it('lib/errors.ts imports no store driver: each store\'s errors are classified beside its client', () => {
    expect(packagesOf('lib/errors.ts').filter((p) => (Object.values(drivers) as string[]).includes(p))).toEqual([]);
  });

  it.each(Object.entries(drivers))('lib/stores/%s.ts loads %s and registers how its errors read', (store, pkg) => {
    const text = readFileSync(path.join(root, 'lib/stores', `${store}.ts`), 'utf8');
    expect(packagesOf(`lib/stores/${store}.ts`)).toContain(pkg);
    expect(text).toMatch(/^registerStoreErrors\(/m);
  });

  it.each(['ops/doctor/servers.ts', 'stack/probes.ts'])('%s builds its store clients with lib/stores, not by hand', (file) => {
    expect(packagesOf(file).filter((p) => (Object.values(drivers) as string[]).includes(p))).toEqual([]);
  });
});
