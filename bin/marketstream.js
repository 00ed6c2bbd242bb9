#!/usr/bin/env node
// The CLI is written in TypeScript that Node 24 runs directly (type stripping); this shim only loads it. Under an
// older Node it re-runs itself under Node 24 (bin/node24.js: the one in ~/.cache/marketstream/node24, installed once).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  await (await import('./node24.js')).runUnderNode24();
}
if (major < 24) { // a last guard: the re-run above did not happen
  console.error(`marketstream needs Node.js >= 24 (this is ${process.version}). See README "Requirements".`);
  process.exit(1);
}
await import('../cli/main.ts');
