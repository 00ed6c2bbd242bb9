// `marketstream config`: the effective configuration (secrets masked), or its documentation (.env.example, markdown).
import type { Command } from 'commander';
import { effectiveValues, envExample, markdownTable } from '../../lib/config-docs.ts';
import { loadContext } from '../context.ts';

export function registerConfig(program: Command): void {
  program.command('config')
    .description('print the effective configuration (secrets masked); exits 2 naming any invalid variable')
    .option('--env-example', 'print .env.example: every variable with its default')
    .option('--markdown', 'print the configuration table of the README')
    .option('--json', 'effective values as JSON')
    .action((opts: { envExample?: boolean; markdown?: boolean; json?: boolean }) => {
      if (opts.envExample) return void process.stdout.write(envExample());
      if (opts.markdown) return void process.stdout.write(`${markdownTable()}\n`);
      const values = effectiveValues(loadContext('marketstream-config').config);
      if (opts.json) return void process.stdout.write(`${JSON.stringify(values, null, 2)}\n`);
      const width = Math.max(...Object.keys(values).map((k) => k.length));
      for (const [k, v] of Object.entries(values)) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
    });
}
