// `marketstream schema check|register [file.avsc…]`: a contract against the latest registered version of its subject
// (compatibility under the subject's level, the difference in words, what each sink would do), and explicit
// registration (production runs producers with SCHEMA_AUTO_REGISTER=false, so this is where schemas get registered).
import type { Command } from 'commander';
import { loadContext } from '../context.ts';
import { errorMessage } from '../../lib/errors.ts';
import { checkContracts, formatCheck, registerContracts, resolveContracts } from '../../ops/schema.ts';

interface SchemaOptions { subject?: string; json?: boolean }

export function registerSchema(program: Command): void {
  const schema = program.command('schema').description('Check contracts (.avsc) against the Schema Registry, and register them');

  schema.command('check')
    .description('Compare each contract (default: the four in schemas/) with the latest version registered under its subject, ' +
      'under the subject\'s compatibility level: the difference in words and what each sink would do; exit 1 when one is incompatible')
    .argument('[files...]', '.avsc files (matched to a contract by record name)')
    .option('--subject <subject>', 'registry subject of the one file given (default: <topic>-value of the contract it is a version of)')
    .option('--json', 'print JSON')
    .action(async (files: string[], opts: SchemaOptions) => {
      const { config } = loadContext('schema');
      try {
        const results = await checkContracts(config, resolveContracts(config, files, opts.subject));
        process.stdout.write(opts.json ? `${JSON.stringify(results, null, 2)}\n` : results.map(formatCheck).join('\n'));
        if (results.some((r) => !r.compatible)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`schema check failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });

  schema.command('register')
    .description('Register each contract (default: the four in schemas/) under its subject (BACKWARD unless the subject has its own level); ' +
      'exit 1 when the registry refuses one')
    .argument('[files...]', '.avsc files (matched to a contract by record name)')
    .option('--subject <subject>', 'registry subject of the one file given (default: <topic>-value of the contract it is a version of)')
    .action(async (files: string[], opts: SchemaOptions) => {
      const { config } = loadContext('schema');
      try {
        for (const r of await registerContracts(config, resolveContracts(config, files, opts.subject))) {
          process.stdout.write(`registered ${r.contract.subject}: version ${r.version}, schema id ${r.id}\n`);
        }
      } catch (err) {
        process.stderr.write(`schema register failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      }
    });
}
