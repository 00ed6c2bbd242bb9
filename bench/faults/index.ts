// `npm run faults`: the fault matrix on the real stack, one row per fault: records, lost, doubled, in DLQ, rebalances,
// seconds to recover, and the two invariants every row checks (./invariants.ts): committed-offset decreases while the
// fault ran, and keys whose stored row differs from the newest-wins state of the log. Writes
// bench/results/faults-latest.json. Options: --records N (default 200000), --outage-seconds S (default 300), --only
// <substring of a fault name>. FAULTS_MEMBER_LOGS=1 prints the members' warnings and errors to stderr.
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createPgPool, migrate } from '../../lib/stores/postgres.ts';
import { brokerKilled } from './broker-kill.ts';
import { killMembers, type FaultContext, type FaultResult, type Scenario } from './harness.ts';
import { stopWatches } from './invariants.ts';
import { scaleDuringCorrections } from './scale.ts';
import { credentialsRevoked, flood, memberKills, rebuildRace, registryKilled, registryStorageDown, storeDown } from './scenarios.ts';
import { storeCallHangs } from './store-lock.ts';

const { values: args } = parseArgs({ options: {
  records: { type: 'string', default: '200000' }, 'outage-seconds': { type: 'string', default: '300' }, only: { type: 'string' },
} });

const config = { ...loadConfig(), TOPIC_PARTITIONS: 6 };
const logger = createLogger({ level: 'warn', format: 'json' });
const say = (m: string) => process.stderr.write(`faults: ${m}\n`);
const ctx: FaultContext = { config, logger, kafka: createKafka(config, logger, 'faults'), pool: createPgPool(config, { max: 2 }),
  records: Number(args.records), say };

const scenarios: Scenario[] = [flood, registryKilled, registryStorageDown, credentialsRevoked, storeDown(Number(args['outage-seconds'])), rebuildRace,
  memberKills, brokerKilled, scaleDuringCorrections, storeCallHangs]
  .filter((s) => !args.only || s.name.includes(args.only));

// Stopped (Ctrl-C, a timeout): the member processes go too, instead of staying on as orphans.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { killMembers(); process.exit(130); });

async function main() {
  await migrate(ctx.pool);
  const results: FaultResult[] = [];
  for (const s of scenarios) {
    say(`${s.name}…`);
    const started = Date.now();
    try {
      results.push(await s.run(ctx));
    } catch (err) {
      results.push({ fault: s.name, records: 0, lost: 0, doubled: 0, inDlq: 0, rebalances: 0, recoverSeconds: null, offsetDecreases: null, differences: null,
        notes: `scenario failed: ${(err as Error).message}` });
    }
    await stopWatches();
    say(`${s.name}: done in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  const row = (c: (string | number)[]) => `| ${c.join(' | ')} |`;
  process.stdout.write([
    row(['fault', 'records', 'lost', 'doubled', 'in DLQ', 'rebalances', 's to recover', 'offset decreases', 'differences from reference', 'notes']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...results.map((r) => row([r.fault, r.records, r.lost, r.doubled, r.inDlq, r.rebalances,
      r.recoverSeconds === null ? 'never' : r.recoverSeconds.toFixed(1), r.offsetDecreases ?? '-', r.differences ?? '-', r.notes ?? ''])),
  ].join('\n') + '\n');
  await mkdir(new URL('../results/', import.meta.url), { recursive: true });
  await writeFile(new URL('../results/faults-latest.json', import.meta.url),
    `${JSON.stringify({ at: new Date().toISOString(), records: ctx.records, results }, null, 2)}\n`);
  await ctx.pool.end();
}

await main();
