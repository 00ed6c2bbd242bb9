// CI's registry-free guard: every contract must still read what its version at the previous commit wrote (BACKWARD:
// the new schema resolves the old writer schema, `newType.createResolver(oldType)` in avsc), so an incompatible change
// to a .avsc fails the build before any registry sees it. `marketstream schema check` is the same question asked of a
// registry. A shallow clone (how many CI systems clone) fetches the one commit it lacks; when it cannot, the test fails
// saying how to give it the history. Nothing to compare with (the first commit, a contract new since the previous
// one) passes, after checking that is really so.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSchema, schemasDir, type AvroSchemaJson } from '../../schemas/avro.ts';
import { backwardProblem, breaksBackward, describeChange, diffSchemas } from '../../schemas/evolution.ts';

const root = path.resolve(schemasDir, '..');
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const succeeds = (...args: string[]) => { try { git(...args); return true; } catch { return false; } };
const hasCommit = (rev: string) => succeeds('rev-parse', '--verify', '--quiet', `${rev}^{commit}`);
const contracts = readdirSync(schemasDir).filter((f) => f.endsWith('.avsc')).sort();

/**
 * Makes HEAD~1 available: in a shallow clone whose boundary is HEAD, fetches one more commit from the remote. Returns
 * why the previous commit cannot be had, or null when it is there (or HEAD truly is the first commit).
 */
function previousCommitProblem(): string | null {
  if (hasCommit('HEAD~1')) return null;
  const shallow = git('rev-parse', '--is-shallow-repository').trim() === 'true';
  if (!shallow) return null; // the repository's first commit: nothing before it
  if (succeeds('fetch', '--quiet', '--deepen=1') && hasCommit('HEAD~1')) return null;
  return 'this is a shallow clone without the previous commit, and fetching it failed: run `git fetch --deepen=1` (or clone with --depth 2 or more)';
}
const historyProblem = previousCommitProblem();

/** The file at HEAD~1, or why there is none to compare with. */
function previous(file: string): { json: AvroSchemaJson } | { none: string } {
  const rel = path.relative(root, path.join(schemasDir, file)).split(path.sep).join('/');
  if (!hasCommit('HEAD~1')) return { none: 'the first commit: nothing to compare with' };
  if (!succeeds('cat-file', '-e', `HEAD~1:${rel}`)) return { none: `${rel} is new since the previous commit: nothing to compare with` };
  return { json: JSON.parse(git('show', `HEAD~1:${rel}`)) as AvroSchemaJson };
}

describe('contracts stay BACKWARD compatible with the previous commit (no registry)', () => {
  it.for(contracts)('%s reads the records its previous version wrote', (file) => {
    expect(historyProblem, `the BACKWARD guard needs the previous commit: ${historyProblem}`).toBeNull();
    const prev = previous(file);
    if ('none' in prev) {
      process.stderr.write(`${file}: ${prev.none}\n`);
      return;
    }
    const current = loadSchema(file).json;
    const problem = backwardProblem(prev.json, current);
    const breaking = diffSchemas(prev.json, current).filter(breaksBackward).map(describeChange);
    expect(problem, `${file} cannot read what its previous version wrote: ${problem}\n${breaking.join('\n')}\n`
      + 'Give a new field a default, keep the types, or make the change a new contract.').toBeNull();
  });
});
