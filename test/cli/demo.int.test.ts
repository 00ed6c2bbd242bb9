// The README's first quick-start command: the demo must show, for the default symbols, rows in PostgreSQL,
// the latest price in Redis with a TTL of at most 60 s, Stock nodes with last_price in Neo4j, the registry subject,
// and the graph: MarketEvent-AFFECTS->Company, Company-IN_SECTOR->Sector and at least one CORRELATED_WITH pair.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { randomName } from '../helpers/index.ts';

const run = promisify(execFile);
/** PATH as right after `npm ci`: no `marketstream` on it. */
const PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => !existsSync(join(d, 'marketstream'))).join(delimiter);

describe('marketstream demo', () => {
  it('runs the pipeline and prints what landed in each store', async () => {
    const { stdout, stderr } = await run(process.execPath, ['bin/marketstream.js', 'demo', '--duration', '6'], {
      env: { ...process.env, PATH, KAFKA_GROUP_PREFIX: randomName('demo'), LOG_LEVEL: 'info', LOG_FORMAT: 'json', ANTHROPIC_API_KEY: '', METRICS_PORT: '0' },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // The summary starts at its first heading (the steps and status lines above it name the stores too).
    const summary = stdout.slice(stdout.indexOf('\nPostgreSQL  price_data (rows per symbol)'));
    const section = (title: string) => summary.split(title)[1]?.split('\n\n')[0] ?? '';
    for (const symbol of ['AAPL', 'MSFT', 'GOOGL', 'TSLA', 'NVDA']) {
      expect(section('PostgreSQL')).toMatch(new RegExp(`${symbol}\\s+[1-9]\\d* rows`));
      const redis = section('Redis').match(new RegExp(`${symbol}\\s+close ([\\d.]+) .* TTL (-?\\d+) s`));
      expect(redis, `Redis line for ${symbol}`).not.toBeNull();
      const ttl = Number(redis![2]);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
      expect(section('Neo4j')).toMatch(new RegExp(`${symbol}\\s+last_price [\\d.]+ .*labels (Company:Stock|Stock:Company)`));
      // The features group's indicators of the symbol's newest bar (the daily history has more than the 34 bars MACD needs).
      expect(section('price_features')).toMatch(new RegExp(`${symbol}\\s+\\w+\\s+bar\\s+\\d+\\s+RSI\\(14\\) [\\d.]+\\s+MACD -?[\\d.]+\\s+SMA\\(20\\) [\\d.]+`));
    }
    expect(section('Schema Registry')).toMatch(/price-updates-value\s+version \d+/);
    // Issue #4: enriched events linked to companies, companies in sectors, and correlated pairs from the synthetic prices.
    const graph = summary.match(
      /(\d+) \(:MarketEvent\)-\[:AFFECTS\]->\(:Company\), (\d+) \(:Company\)-\[:IN_SECTOR\]->\(:Sector\), (\d+) COMPETES_WITH, (\d+) CORRELATED_WITH/);
    expect(graph, 'graph counts line').not.toBeNull();
    const [affects, inSector, , correlated] = graph!.slice(1).map(Number);
    expect(affects).toBeGreaterThan(0);
    expect(inSector).toBeGreaterThanOrEqual(5);
    expect(correlated).toBeGreaterThanOrEqual(1);
    expect(section('market_events')).toMatch(/\[rules\]/); // no ANTHROPIC_API_KEY: labelled as the rule-based classifier
    // Its commands start with what works without marketstream on PATH; and the first one does work.
    const further = section('Look further').split('\n').filter((l) => /^\s+(npx )?marketstream /.test(l));
    expect(further.length).toBeGreaterThanOrEqual(4);
    for (const l of further) expect(l).toMatch(/^ {2}npx marketstream /);
    const first = further[0]!.trim().split(/\s{2,}/)[0]!.replace(' | groups', ''); // npx marketstream inspect topics
    const tried = await run('sh', ['-c', `${first} price-updates`], { env: { ...process.env, PATH }, timeout: 60_000 });
    expect(tried.stdout).toMatch(/price-updates/);

    // Issue #13: not a terminal, so plain sentences and status lines; log records only in the file it names.
    const jsonLines = (text: string) => text.split('\n').filter((l) => /^\s*\{.*"(level|msg)"/.test(l));
    expect(jsonLines(stdout), 'log records on stdout').toEqual([]);
    expect(jsonLines(stderr), 'log records on stderr').toEqual([]);
    expect(stdout).toMatch(/^Starting the consumer groups…$/m);
    expect(stdout).toMatch(/^\[\d+ s\] published price-updates [\d,]+.* \| lag\/written postgres-sink .* \| Neo4j [\d,]+ nodes/m);
    // The status line names the price source answering and how fresh each store is (its stalest symbol's newest bar).
    expect(stdout).toMatch(/^\[\d+ s\] .*\| price source synthetic \|.*\| freshness \S+ \d+ s/m);
    const logFile = stdout.match(/^Logs: (\S+) \(JSON lines/m)?.[1];
    expect(logFile, 'log file path printed at start').toMatch(/\.stack\/logs\/demo-\S+\.log$/);
    try {
      const records = readFileSync(logFile!, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; name: string });
      expect(records.length).toBeGreaterThan(5);
      expect(records.every((r) => r.name === 'marketstream-demo' && typeof r.level === 'number')).toBe(true);
      expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(['joined group', 'price tick']));
    } finally {
      if (logFile) rmSync(logFile, { force: true });
    }
  });
});
