// The README's first quick-start command: the demo must show, for the default symbols, rows in PostgreSQL,
// the latest price in Redis with a TTL of at most 60 s, Stock nodes with last_price in Neo4j, the registry subject,
// and the graph: MarketEvent-AFFECTS->Company, Company-IN_SECTOR->Sector and at least one CORRELATED_WITH pair.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { randomName } from '../helpers/index.ts';

const run = promisify(execFile);

describe('marketstream demo', () => {
  it('runs the pipeline and prints what landed in each store', async () => {
    const { stdout } = await run(process.execPath, ['bin/marketstream.js', 'demo', '--duration', '6'], {
      env: { ...process.env, KAFKA_GROUP_PREFIX: randomName('demo'), LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ANTHROPIC_API_KEY: '' },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const section = (title: string) => stdout.split(title)[1]?.split('\n\n')[0] ?? '';
    for (const symbol of ['AAPL', 'MSFT', 'GOOGL', 'TSLA', 'NVDA']) {
      expect(section('PostgreSQL')).toMatch(new RegExp(`${symbol}\\s+[1-9]\\d* rows`));
      const redis = section('Redis').match(new RegExp(`${symbol}\\s+close ([\\d.]+) .* TTL (-?\\d+) s`));
      expect(redis, `Redis line for ${symbol}`).not.toBeNull();
      const ttl = Number(redis![2]);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
      expect(section('Neo4j')).toMatch(new RegExp(`${symbol}\\s+last_price [\\d.]+ .*labels (Company:Stock|Stock:Company)`));
    }
    expect(section('Schema Registry')).toMatch(/price-updates-value\s+version \d+/);
    // Issue #4: enriched events linked to companies, companies in sectors, and correlated pairs from the synthetic prices.
    const graph = stdout.match(/(\d+) \(:MarketEvent\)-\[:AFFECTS\]->\(:Company\), (\d+) \(:Company\)-\[:IN_SECTOR\]->\(:Sector\), (\d+) COMPETES_WITH, (\d+) CORRELATED_WITH/);
    expect(graph, 'graph counts line').not.toBeNull();
    const [affects, inSector, , correlated] = graph!.slice(1).map(Number);
    expect(affects).toBeGreaterThan(0);
    expect(inSector).toBeGreaterThanOrEqual(5);
    expect(correlated).toBeGreaterThanOrEqual(1);
    expect(section('market_events')).toMatch(/\[rules\]/); // no ANTHROPIC_API_KEY: labelled as the rule-based classifier
  });
});
