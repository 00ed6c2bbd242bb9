#!/usr/bin/env node
// The CLI is written in TypeScript that Node 24 runs directly (type stripping); this shim only loads it.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`marketstream needs Node.js >= 24 (this is ${process.version}). See README "Requirements".`);
  process.exit(1);
}
await import('../cli/main.ts');
