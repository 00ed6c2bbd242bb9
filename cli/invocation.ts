// How a user runs this CLI from the shell it was started in, for the commands it prints ("Look further", hints):
// `marketstream` only when that name on PATH is this CLI (npm link, a global install); otherwise `npx marketstream`,
// which is what works right after `npm ci` (npm puts a package's own bin on no PATH).
import { realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(new URL('../bin/marketstream.js', import.meta.url));

const real = (path: string): string | undefined => {
  try { return realpathSync(path); } catch { return undefined; }
};

/** `marketstream` when the first `marketstream` on `path` is this CLI, else `npx marketstream`. */
export function cliInvocation(path = process.env.PATH ?? ''): string {
  const self = real(SELF);
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const found = real(join(dir, 'marketstream'));
    if (found) return found === self ? 'marketstream' : 'npx marketstream';
  }
  return 'npx marketstream';
}
