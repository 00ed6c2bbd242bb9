// `marketstream consume postgres --instances 2` runs its two members as two OS processes (children of the command),
// which split the partitions, write every bar once, and all stop gracefully (exit 0) on one SIGTERM to the parent.
// A member process that dies is started again by the parent.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../lib/kafka.ts';
import { createPublisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testLogger, waitFor } from '../helpers/index.ts';

const prefix = randomName('test-instances');
const topic = withName(priceUpdates, randomName('test-instances-prices'));
const env = {
  KAFKA_GROUP_PREFIX: prefix, PRICE_UPDATES_TOPIC: topic.name, TOPIC_PARTITIONS: '6', METRICS_PORT: '0', LOG_LEVEL: 'warn', LOG_FORMAT: 'json',
  KAFKA_SESSION_TIMEOUT_MS: '10000', SINK_MAX_HEAP_MB: '200',
};
const config = testConfig(env);
const logger = testLogger('instances-test');
const groupId = `${prefix}.postgres-sink`;

/** pids of the live child processes of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('consume --instances N', () => {
  const kafka = createKafka(config, logger, 'instances-test');
  const admin = kafka.admin();
  const pool = createPgPool(config, { max: 2 });
  const symbols = Array.from({ length: 12 }, randomSymbol);
  // Every row of these symbols PostgreSQL is handed (a BEFORE INSERT trigger fires for each row of the sink's
  // INSERT … ON CONFLICT, also when the upsert changes nothing) lands in a scratch table: a bar written twice shows.
  const writes = randomName('test_writes').replace(/-/g, '_');
  afterAll(async () => {
    await pool.query(`DROP TRIGGER IF EXISTS ${writes} ON price_data`).catch(() => undefined);
    await pool.query(`DROP FUNCTION IF EXISTS ${writes}()`).catch(() => undefined);
    await pool.query(`DROP TABLE IF EXISTS ${writes}`).catch(() => undefined);
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]).catch(() => undefined);
    await pool.end();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]).catch(() => undefined);
    await admin.disconnect();
  });

  it('runs two members in two processes that split the partitions, write each bar once, restart a dead member, and stop on one SIGTERM', async () => {
    await admin.connect();
    await ensureTopics(kafka, config, [topic]);
    // Identifiers cannot be parameters: a random name and random symbols made above.
    await pool.query(`CREATE TABLE ${writes} (symbol text, ts timestamptz)`);
    await pool.query(`CREATE FUNCTION ${writes}() RETURNS trigger LANGUAGE plpgsql
      AS $$ BEGIN INSERT INTO ${writes} VALUES (NEW.symbol, NEW.ts); RETURN NEW; END $$`);
    const listed = symbols.map((x) => `'${x}'`).join(', ');
    await pool.query(`CREATE TRIGGER ${writes} BEFORE INSERT ON price_data FOR EACH ROW WHEN (NEW.symbol IN (${listed})) EXECUTE FUNCTION ${writes}()`);
    const writtenTwice = async () => (await pool.query(`SELECT symbol, ts, count(*)::int AS n FROM ${writes} GROUP BY 1, 2 HAVING count(*) > 1`)).rows;
    const written = async () => Number((await pool.query(`SELECT count(*) AS n FROM ${writes}`)).rows[0].n);
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic.name] });
      const ends = await admin.fetchTopicOffsets(topic.name);
      return ends.every((e) => e.offset === '0' || offsets?.partitions.find((p) => p.partition === e.partition)?.offset === e.offset);
    };
    const parent = spawn(process.execPath, ['bin/marketstream.js', 'consume', 'postgres', '--instances', '2'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    parent.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    parent.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => parent.once('exit', (code) => resolve(code)));
    try {
      // Two members of the group, each its own process: distinct client hosts are not telling on one machine, the pids are.
      await waitFor(async () => {
        const g = (await admin.describeGroups([groupId])).groups[0];
        return g?.state === 'Stable' && g.members.length === 2;
      }, { timeoutMs: 60_000, what: 'two members in the group' });
      const members = childrenOf(parent.pid!);
      expect(members).toHaveLength(2);
      // SINK_MAX_HEAP_MB bounds each member's heap: the member re-executed itself (same pid) with the V8 flag.
      for (const pid of members) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-old-space-size=200');

      const serde = createSerde(config);
      const publisher = createPublisher({ kafka, serde, logger });
      await publisher.connect();
      const bars = symbols.flatMap((s) => Array.from({ length: 250 }, (_, i) => bar(s, i, 100 + i / 10)));
      await publisher.send(topic, bars, { source: 'test' });
      const count = async () => Number((await pool.query('SELECT count(*) AS n FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0].n);
      await waitFor(async () => (await count()) === bars.length, { timeoutMs: 60_000, what: `${bars.length} rows` });
      // Committed too, so the member killed next leaves nothing to be read (and written) again.
      await waitFor(committed, { timeoutMs: 30_000, what: 'every record committed' });
      expect(await written()).toBe(bars.length);

      // A member killed outright is started again: the group is back to two members, in two (new) processes.
      process.kill(members[0]!, 'SIGKILL');
      await waitFor(() => { const now = childrenOf(parent.pid!); return now.length === 2 && !now.includes(members[0]!); },
        { timeoutMs: 30_000, what: 'the killed member started again' });
      await waitFor(async () => {
        const g = (await admin.describeGroups([groupId])).groups[0];
        return g?.state === 'Stable' && g.members.length === 2;
      }, { timeoutMs: 60_000, what: 'two members again' });
      const more = symbols.map((s) => bar(s, 1000, 200));
      await publisher.send(topic, more, { source: 'test' });
      await waitFor(async () => (await count()) === bars.length + more.length, { timeoutMs: 60_000, what: 'the bars after the restart' });
      await publisher.disconnect();

      const live = childrenOf(parent.pid!);
      parent.kill('SIGTERM');
      expect(await exited).toBe(0);
      for (const pid of live) expect(() => process.kill(pid, 0)).toThrow(); // every member process is gone
      const lag = await admin.fetchOffsets({ groupId, topics: [topic.name] });
      const ends = await admin.fetchTopicOffsets(topic.name);
      for (const p of lag[0]!.partitions) {
        const end = ends.find((e) => e.partition === p.partition)!.offset;
        expect(end === '0' ? '0' : p.offset).toBe(end); // every record committed (an empty partition has nothing to commit)
      }
      // Each bar handed to PostgreSQL once, through the split, the kill, the restart and the stop.
      expect(await writtenTwice()).toEqual([]);
      expect(await written()).toBe(bars.length + more.length);
    } finally {
      const kids = childrenOf(parent.pid!); // read before the parent dies: its children would be orphans, out of reach
      if (parent.exitCode === null) parent.kill('SIGKILL');
      for (const pid of kids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    // Our own errors: only the restart of the killed member (kafkajs logs the rebalances it causes on its own).
    const errors = output.join('').split('\n').filter((l) => l.includes('"level":50') && !l.includes('"kafkajs"'));
    expect(errors.map((l) => JSON.parse(l).msg)).toEqual(['member process exited unexpectedly; starting it again']);
  }, 200_000);
});
