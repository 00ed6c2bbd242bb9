// CI's registry-free guard: every contract must still read what its version at the previous commit wrote (BACKWARD:
// the new schema resolves the old writer schema, `newType.createResolver(oldType)` in avsc), so an incompatible change
// to a .avsc fails the build before any registry sees it. `marketstream schema check` is the same question asked of a
// registry. Skipped, saying why, without a previous commit (first commit, shallow clone) or for a file that is new.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSchema, schemasDir, type AvroSchemaJson } from '../../schemas/avro.ts';
import { backwardProblem, breaksBackward, describeChange, diffSchemas } from '../../schemas/evolution.ts';

const root = path.resolve(schemasDir, '..');
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const hasPrevious = (() => { try { git('rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}'); return true; } catch { return false; } })();
const contracts = readdirSync(schemasDir).filter((f) => f.endsWith('.avsc')).sort();

/** The file at HEAD~1, or why there is none to compare with. */
function previous(file: string): { json: AvroSchemaJson } | { skip: string } {
  if (!hasPrevious) return { skip: 'no previous commit (first commit or a shallow clone): nothing to compare with' };
  const rel = path.relative(root, path.join(schemasDir, file)).split(path.sep).join('/');
  try {
    return { json: JSON.parse(git('show', `HEAD~1:${rel}`)) as AvroSchemaJson };
  } catch {
    return { skip: `${rel} is new since the previous commit: nothing to compare with` };
  }
}

describe('contracts stay BACKWARD compatible with the previous commit (no registry)', () => {
  it.for(contracts)('%s reads the records its previous version wrote', (file, ctx) => {
    const prev = previous(file);
    if ('skip' in prev) {
      process.stderr.write(`skipped ${file}: ${prev.skip}\n`);
      ctx.skip(prev.skip);
      return;
    }
    const current = loadSchema(file).json;
    const problem = backwardProblem(prev.json, current);
    const breaking = diffSchemas(prev.json, current).filter(breaksBackward).map(describeChange);
    expect(problem, `${file} cannot read what its previous version wrote: ${problem}\n${breaking.join('\n')}\n`
      + 'Give a new field a default, keep the types, or make the change a new contract.').toBeNull();
  });
});
