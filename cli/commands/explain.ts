// `marketstream explain <event id | SYMBOL | FROM-REL-TO> [--json]`: the chain behind a graph fact (ops/explain): the
// fact, the graph-mutations record that made or deleted it (decoded), the enrichment, the source article or profile.
// `marketstream explain SYMBOL INTERVAL DATE|ISO-TIME`: a bar and its revisions (ops/explain/revisions.ts).
import type { Command } from 'commander';
import { neo4jDatabase } from '../../lib/config.ts';
import { errorMessage } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createNeo4jDriver } from '../../lib/stores/neo4j.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { explain } from '../../ops/explain/index.ts';
import { createRecordDecoder, jsonSafe } from '../../ops/inspect/decode.ts';
import { loadContext } from '../context.ts';
import { formatBarHistory, formatExplanation } from '../explain/format.ts';
import { barHistory, isInterval, parseBarTime } from '../../ops/explain/revisions.ts';

export function registerExplain(program: Command): void {
  program.command('explain')
    .description('where a graph fact came from: the fact, the Kafka record that made (or deleted) it, decoded, the classification (model, tokens, cost) ' +
      'and the source article or company profile')
    .argument('<target>', 'an event id, a SYMBOL, or FROM-REL-TO (e.g. AAPL-COMPETES_WITH-MSFT, <event id>-AFFECTS-AAPL)')
    .argument('[interval]', 'with a SYMBOL: a bar\'s interval (1m, 5m, 1h, 1d): its revisions, e.g. explain AAPL 1d 2026-12-01')
    .argument('[time]', 'the bar\'s start: a date (YYYY-MM-DD) or an ISO time with a zone')
    .option('--database <name>', 'Neo4j database (default NEO4J_DATABASE, else the server\'s)')
    .option('--json', 'print JSON')
    .action(async (target: string, interval: string | undefined, time: string | undefined, opts: { database?: string; json?: boolean }) => {
      const { config, logger } = loadContext('explain');
      if (interval !== undefined) {
        if (!isInterval(interval) || time === undefined) {
          process.stderr.write(`explain: expected SYMBOL INTERVAL DATE|ISO-TIME (interval one of 1m, 5m, 1h, 1d, tick)\n`);
          process.exitCode = 2;
          return;
        }
        const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-explain' });
        try {
          const h = await barHistory(pool, target, interval, parseBarTime(time));
          process.stdout.write(opts.json ? `${JSON.stringify(h, null, 2)}\n` : `${formatBarHistory(h)}\n`);
          if (!h.current) process.exitCode = 1;
        } catch (err) {
          process.stderr.write(`explain failed: ${errorMessage(err)}\n`);
          process.exitCode = 1;
        } finally {
          await pool.end();
        }
        return;
      }
      const driver = createNeo4jDriver(config);
      const database = opts.database ?? neo4jDatabase(config);
      const pool = createPgPool(config, { max: 1, applicationName: 'marketstream-explain' });
      try {
        const x = await explain({
          config, kafka: createKafka(config, logger, 'explain'), decoder: createRecordDecoder(config), driver, pool, ...(database ? { database } : {}),
        }, target);
        process.stdout.write(opts.json ? `${JSON.stringify(jsonSafe(x), null, 2)}\n` : `${formatExplanation(x)}\n`);
        if (!x.facts.length && !x.features?.length) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`explain failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        await driver.close();
        await pool.end();
      }
    });
}
