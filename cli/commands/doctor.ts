// `marketstream doctor [--json]`: one line per check (tools, servers and their versions, registry subjects, topics,
// consumer groups, DLQs, Claude), each ok / warn / FAIL (or info, skip) with a hint when not ok. Exit code 0 when no
// check FAILed (warnings allowed), 1 when one did, 2 when the configuration itself is invalid. The checks live in
// ops/doctor; this file knows the local stack (stack/) and renders.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../../lib/config.ts';
import { ConfigError } from '../../lib/errors.ts';
import { maskSecrets } from '../../lib/logger.ts';
import { DEFAULT_TIMEOUT_MS, runDoctor, type Check, type CheckSection, type DoctorReport, type LocalStackServer } from '../../ops/doctor/index.ts';
import { createServices } from '../../stack/index.ts';
import { stackPaths } from '../../stack/paths.ts';
import { isRunning, readPid } from '../../stack/proc.ts';
import { KAFKA_VERSION } from '../../stack/services/kafka.ts';
import { NEO4J_VERSION } from '../../stack/services/neo4j.ts';
import { REGISTRY_VERSION } from '../../stack/services/schema-registry.ts';
import { number } from '../options.ts';

/** The version in package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const LOCAL_PRODUCTS: Record<LocalStackServer['name'], { product: string; version: string; needs: LocalStackServer['needs'] }> = {
  kafka: { product: `Apache Kafka ${KAFKA_VERSION}`, version: KAFKA_VERSION, needs: ['java', 'maven'] },
  neo4j: { product: `Neo4j ${NEO4J_VERSION}`, version: NEO4J_VERSION, needs: ['java', 'maven'] },
  'schema-registry': { product: `AxonOps Schema Registry ${REGISTRY_VERSION}`, version: REGISTRY_VERSION, needs: ['go'] },
  postgres: { product: 'PostgreSQL 15 (Debian)', version: '15', needs: [] },
  redis: { product: 'Redis 7 (Debian)', version: '7', needs: [] },
};

/** The local stack's servers: where they listen, what they run, whether the process `stack up` started runs now. */
export function localStackServers(config: Config): LocalStackServer[] {
  try {
    const paths = stackPaths(config.STACK_DIR);
    return createServices(paths).flatMap((svc) => {
      const name = (/^kafka(-\d+)?$/.test(svc.name) ? 'kafka' : svc.name) as LocalStackServer['name']; // a Kafka node may be kafka-<n>
      const known = LOCAL_PRODUCTS[name];
      if (!known) return [];
      const pid = readPid(paths.pid(svc.name));
      return [{ name, host: svc.host, port: svc.port, ...known, running: pid !== undefined && isRunning(pid, svc.processMatch), logFile: paths.log(svc.name) }];
    });
  } catch {
    return []; // the stack's files are not readable: nothing is attributed to it
  }
}

const SECTION_TITLES: Record<CheckSection, string> = {
  tools: 'tools', servers: 'servers', registry: 'schema registry subjects', topics: 'topics', groups: 'consumer groups',
    dlq: 'dead-letter topics', sources: 'price sources', claude: 'claude',
};
const MARKS: Record<Check['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', info: 'info', skip: 'skip' };

export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines: string[] = [`marketstream ${report.version ?? ''} doctor`.replace('  ', ' ')];
  let section: CheckSection | undefined;
  for (const c of report.checks) {
    if (c.section !== section) {
      section = c.section;
      lines.push('', SECTION_TITLES[section]);
    }
    lines.push(`  ${MARKS[c.status].padEnd(5)} ${c.name.padEnd(width)}  ${c.summary}`);
    if (c.hint && c.status !== 'ok') lines.push(`  ${' '.repeat(5)} ${' '.repeat(width)}  ↳ ${c.hint}`);
  }
  const n = report.counts;
  const parts = [`${n.ok} ok`, `${n.warn} warn`, `${n.fail} FAIL`, ...(n.info ? [`${n.info} info`] : []), ...(n.skip ? [`${n.skip} skipped`] : [])];
  lines.push('', `${parts.join(', ')} in ${(report.ms / 1000).toFixed(1)} s: exit ${report.exitCode}${n.fail ? '' : n.warn ? ' (warnings do not fail)' : ''}`);
  return `${lines.join('\n')}\n`;
}

export function registerDoctor(program: Command): void {
  program.command('doctor')
    .description('check tools, servers and their versions, registry subjects, topics, consumer groups, DLQs, price sources (and a running chain\'s ' +
      'switches) and Claude; one line each with a fix hint; ' +
      'exits 1 on any FAIL (warnings allowed), 2 on invalid configuration')
    .option('--json', 'print the report as JSON')
    .option('--timeout <seconds>', `longest time one check may take (default ${DEFAULT_TIMEOUT_MS / 1000})`, number(0.1, 'a number of seconds >= 0.1'))
    .action(async (opts: { json?: boolean; timeout?: number }) => {
      const version = packageVersion();
      let config: Config;
      try {
        config = loadConfig();
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const message = maskSecrets(err.message);
        if (opts.json) process.stdout.write(`${JSON.stringify({ marketstream: version, exitCode: 2, error: message }, null, 2)}\n`);
        else process.stdout.write(`marketstream ${version} doctor\n\n  FAIL  configuration  ${message.replaceAll('\n', '\n                       ')}\n` +
          `        ↳ fix the variables named above ` +
          `(\`marketstream config --env-example\` lists every variable with its default)\n`);
        process.exitCode = 2;
        return;
      }
      const report = await runDoctor(config, { timeoutMs: opts.timeout === undefined ? undefined : opts.timeout * 1000,
        localStack: localStackServers(config), version });
      process.stdout.write(opts.json
        ? `${JSON.stringify({ marketstream: version, exitCode: report.exitCode, counts: report.counts, ms: report.ms, checks: report.checks }, null, 2)}\n`
        : formatReport(report));
      process.exitCode = report.exitCode;
      // A driver may keep a socket to a dead server open for a while after its check gave up; do not wait for it.
      setTimeout(() => process.exit(), 1000).unref();
    });
}
