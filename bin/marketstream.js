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
// Commands that consume for a long time (consume, rebuild) hold batches of up to SINK_FETCH_MAX_BYTES at a time; left
// alone, V8 grows the heap of such a process far past what it keeps alive (600+ MB for a 1,000,000-record catch-up).
// SINK_MAX_HEAP_MB (0 = V8's own limit, the default) bounds it: this process re-executes itself in place (same pid,
// so signals and supervisors see no difference) with --max-old-space-size, unless a limit was already given.
const heapMb = Number(process.env.SINK_MAX_HEAP_MB ?? 0);
const bounded = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--max-old-space-size'));
if (['consume', 'rebuild'].includes(process.argv[2]) && heapMb > 0 && !bounded && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, `--max-old-space-size=${heapMb}`, ...process.execArgv, ...process.argv.slice(1)], process.env);
}
await import('../cli/main.ts');
