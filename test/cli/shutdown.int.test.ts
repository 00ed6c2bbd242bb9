// Graceful shutdown of a real `marketstream consume postgres` process: SIGTERM while records keep arriving makes it
// finish its batches, commit and exit 0; a restarted process takes over from the committed offsets, so nothing is lost
// and nothing is processed twice. Upserts would hide a second write, so the stream also carries invalid "marker" records
// that the sink dead-letters: each marker must reach the DLQ exactly once.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOf } from '../../consumers/catalog.ts';
import { groupLag } from '../../lib/lag.ts';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { createPgPool } from '../../lib/stores/postgres.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, readTopic, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startCli, type CliProcess } from './cli-process.ts';

const SYMBOLS = 8;
const BARS = 400;
const MARKER_EVERY = 50;
const CHUNK = 20; // bars per symbol per publish while the consumer runs

describe('consume postgres: graceful shutdown on SIGTERM', () => {
  const topic = withName(priceUpdates, randomName('test-shutdown'));
  const env = { PRICE_UPDATES_TOPIC: topic.name, KAFKA_GROUP_PREFIX: randomName('test-shutdown'), LOG_LEVEL: 'info' };
  const config = testConfig(env);
  const group = groupIdOf(config, 'postgres');
  const kafka = testKafka(config);
  const logger = testLogger('shutdown-test');
  const pool = createPgPool(config, { max: 1 });
  const symbols = Array.from({ length: SYMBOLS }, randomSymbol);
  let publisher: Publisher;
  const children: CliProcess[] = [];

  /** Bars i in [from, to) of every symbol, with an invalid marker after every MARKER_EVERY-th bar. */
  function records(from: number, to: number): PriceUpdate[] {
    return symbols.flatMap((s) => Array.from({ length: to - from }, (_, k) => from + k).flatMap((i) => {
      const b = bar(s, i, 100 + i);
      return (i + 1) % MARKER_EVERY === 0 ? [b, { ...b, high: 1 }] : [b];
    }));
  }
  const markers = SYMBOLS * Math.floor(BARS / MARKER_EVERY);
  const rows = async () => Number((await pool.query('SELECT count(*) FROM price_data WHERE symbol = ANY($1)', [symbols])).rows[0].count);
  const consume = () => { const c = startCli(['consume', 'postgres'], env); children.push(c); return c; };

  beforeAll(async () => {
    await ensureTopics(kafka, config, [topic]);
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
  });

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await publisher?.disconnect();
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await pool.end();
    await deleteTestTopics(kafka, [topic.name, topic.dlq]);
  });

  it('exits 0 mid-stream, and a restart loses nothing and doubles nothing', async () => {
    await publisher.send(topic, records(0, 100), { source: 'test' });
    const first = consume();
    await waitFor(async () => (await rows()) > 0, { what: 'the first process writing rows', timeoutMs: 60_000 });

    // Records keep arriving while the process shuts down; the last chunk is published after it exited.
    let next = 100;
    for (let n = 0; next < BARS - CHUNK; n++, next += CHUNK) {
      if (n === 3) first.child.kill('SIGTERM');
      await publisher.send(topic, records(next, next + CHUNK), { source: 'test' });
      await sleep(100);
    }
    const exit = await first.exited;
    expect(exit, first.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(first.logs().some((l) => l.msg === 'stopped')).toBe(true);
    await publisher.send(topic, records(next, BARS), { source: 'test' });

    const afterFirst = await groupLag(kafka, group, [topic.name]);
    const committed = afterFirst.reduce((n, p) => n + (p.committed ?? 0), 0);
    const end = afterFirst.reduce((n, p) => n + p.latest, 0);
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(end); // it stopped mid-stream

    const second = consume();
    await waitFor(async () => (await groupLag(kafka, group, [topic.name])).every((p) => p.lag === 0),
      { what: 'the second process catching up', timeoutMs: 90_000 });
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });

    // Nothing lost: every bar, with its content. Committed offsets are the end offsets.
    const { rows: got } = await pool.query(
      `SELECT symbol, (extract(epoch FROM ts) * 1000)::bigint::text AS ts, open, high, low, close, volume
       FROM price_data WHERE symbol = ANY($1) ORDER BY symbol, ts`, [symbols]);
    const expected = records(0, BARS).filter((r) => r.high !== 1)
      .map((r) => ({ symbol: r.symbol, ts: String(r.eventTime), open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume }))
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || Number(a.ts) - Number(b.ts));
    expect(got).toHaveLength(SYMBOLS * BARS);
    expect(got).toEqual(expected);
    const final = await groupLag(kafka, group, [topic.name]);
    expect(final.map((p) => p.committed ?? 0)).toEqual(final.map((p) => p.latest)); // an empty partition has no commit

    // Nothing doubled: each marker was dead-lettered once, so no record before a committed offset was processed again.
    expect((await readTopic(kafka, topic.dlq)).length).toBe(markers);
  });
});
