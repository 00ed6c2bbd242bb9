// Newest wins in PostgreSQL (issue #19, item 2), against the real server: each row keeps the version of the record that
// wrote it (its offset), and the postgres-sink refuses a write at or below it, reporting it as stale. Batches are handed
// to the handlers directly, with the versions the runner would give, in the orders a stale writer or a redrive causes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSink } from '../../../consumers/postgres/sink.ts';
import type { Sink, SinkRecord, TopicHandler } from '../../../consumers/types.ts';
import { createPgPool, type Pool } from '../../../lib/stores/postgres.ts';
import type { MarketEvent, PriceUpdate } from '../../../schemas/types.generated.ts';
import { bar, deleteEventRows, eventFactory, randomSymbol, testConfig } from '../../helpers/index.ts';

describe('postgres-sink: newest wins', () => {
  const config = testConfig();
  const { ids, newEvent } = eventFactory();
  const symbols: string[] = [];
  let sink: Sink;
  let pool: Pool;
  let prices: TopicHandler<PriceUpdate>;
  let events: TopicHandler<MarketEvent>;

  beforeAll(async () => {
    sink = createPostgresSink(config);
    await sink.connect(); // applies the migrations
    [prices, events] = sink.handlers as [TopicHandler<PriceUpdate>, TopicHandler<MarketEvent>];
    pool = createPgPool(config, { max: 2 });
  });
  afterAll(async () => {
    await pool.query('DELETE FROM price_data WHERE symbol = ANY($1)', [symbols]);
    await deleteEventRows(pool, ids);
    await pool.end();
    await sink.close();
  });

  const sym = () => { const s = randomSymbol(); symbols.push(s); return s; };
  const priceRec = (value: PriceUpdate, version?: number): SinkRecord<PriceUpdate> =>
    ({ value, key: value.symbol, timestamp: Date.now(), ...(version === undefined ? {} : { version }) });
  const eventRec = (id: string, value: MarketEvent | null, version: number): SinkRecord<MarketEvent> => ({ value, key: id, timestamp: Date.now(), version });
  const bars = async (s: string) => (await pool.query<{ ts: Date; close: number; version: number | null }>(
    'SELECT ts, close, version::int AS version FROM price_data WHERE symbol = $1 ORDER BY ts', [s])).rows;
  const eventRow = async (id: string) => (await pool.query('SELECT headline, version::int AS version FROM market_events WHERE id = $1', [id])).rows[0] ?? null;

  it('keeps v2 of a bar when v1 arrives after it (stale 1), and a correction (newer version) wins', async () => {
    const s = sym();
    expect(await prices.writeBatch([priceRec(bar(s, 0, 102), 2)])).toEqual({ stale: 0 });
    expect(await prices.writeBatch([priceRec(bar(s, 0, 101), 1)])).toEqual({ stale: 1 });
    expect((await bars(s)).map((b) => [b.close, b.version])).toEqual([[102, 2]]);
    expect(await prices.writeBatch([priceRec(bar(s, 0, 102), 2)])).toEqual({ stale: 1 }); // a replay: equal version
    expect(await prices.writeBatch([priceRec(bar(s, 0, 103), 9)])).toEqual({ stale: 0 }); // the correction
    expect((await bars(s)).map((b) => [b.close, b.version])).toEqual([[103, 9]]);
  });

  it('within one batch, the highest version of a bar wins, wherever it sits', async () => {
    const s = sym();
    const r = await prices.writeBatch([priceRec(bar(s, 0, 100), 4), priceRec(bar(s, 0, 105), 8), priceRec(bar(s, 0, 101), 5), priceRec(bar(s, 1, 110), 6)]);
    expect(r).toEqual({ stale: 1 });
    expect((await bars(s)).map((b) => [b.close, b.version])).toEqual([[105, 8], [110, 6]]);
  });

  it('keeps last-write-wins for records without a version, and lets any versioned write win over an unversioned row', async () => {
    const s = sym();
    await prices.writeBatch([priceRec(bar(s, 0, 100))]);
    await prices.writeBatch([priceRec(bar(s, 0, 99))]);
    expect((await bars(s)).map((b) => [b.close, b.version])).toEqual([[99, null]]);
    expect(await prices.writeBatch([priceRec(bar(s, 0, 98), 0)])).toEqual({ stale: 0 });
    expect((await bars(s)).map((b) => [b.close, b.version])).toEqual([[98, 0]]);
  });

  it('a tombstone (v5) wins over an older upsert (v3), which does not revive it; a newer upsert (v7) does', async () => {
    const e = newEvent();
    expect(await events.writeBatch([eventRec(e.id, e, 1)])).toEqual({ stale: 0 });
    expect(await events.writeBatch([eventRec(e.id, null, 5)])).toEqual({ stale: 0 });
    expect(await eventRow(e.id)).toBeNull();
    expect(await events.writeBatch([eventRec(e.id, { ...e, headline: 'stale' }, 3)])).toEqual({ stale: 1 });
    expect(await eventRow(e.id)).toBeNull();
    expect(await events.writeBatch([eventRec(e.id, { ...e, headline: 'back' }, 7)])).toEqual({ stale: 0 });
    expect(await eventRow(e.id)).toEqual({ headline: 'back', version: 7 });
    expect((await pool.query('SELECT 1 FROM market_event_tombstones WHERE id = $1', [e.id])).rows).toEqual([]);
    // An older tombstone does not delete the newer row, and a correction of it wins.
    expect(await events.writeBatch([eventRec(e.id, null, 6)])).toEqual({ stale: 1 });
    expect(await events.writeBatch([eventRec(e.id, { ...e, headline: 'corrected' }, 8)])).toEqual({ stale: 0 });
    expect(await eventRow(e.id)).toEqual({ headline: 'corrected', version: 8 });
  });

  it('two writers of the same bars and events at once, in opposite orders: neither deadlocks, the newer versions win', async () => {
    const s = sym();
    const evs = Array.from({ length: 40 }, () => newEvent());
    for (let round = 0; round < 4; round++) {
      // Writer 1 (the older versions) goes up the keys, writer 2 (newer) down: without an order of locks, a deadlock.
      const v = (writer: number, i: number) => 1000 * round + 100 * writer + i;
      const up = Array.from({ length: 300 }, (_, i) => i);
      const down = [...up].reverse();
      await Promise.all([
        prices.writeBatch(up.map((i) => priceRec(bar(s, i, 100 + round), v(1, i)))),
        prices.writeBatch(down.map((i) => priceRec(bar(s, i, 200 + round), v(2, i)))),
        events.writeBatch(evs.map((e, i) => eventRec(e.id, { ...e, headline: `old ${round}` }, v(1, i)))),
        events.writeBatch([...evs].reverse().map((e, i) => eventRec(e.id, i % 2 ? null : { ...e, headline: `new ${round}` }, v(2, i)))),
      ]);
      expect(new Set((await bars(s)).map((b) => b.close))).toEqual(new Set([200 + round]));
      const rows = (await pool.query('SELECT id, headline FROM market_events WHERE id = ANY($1)', [evs.map((e) => e.id)])).rows;
      expect(rows.length).toBe(evs.length / 2);
      expect(new Set(rows.map((r) => r.headline))).toEqual(new Set([`new ${round}`]));
    }
  });

  it('a replay of the whole log into empty tables equals the state after out-of-order delivery', async () => {
    const s = sym();
    const [a, b] = [newEvent(), newEvent()];
    // The log, in offset order (version = offset): bars and their corrections, events withdrawn and re-published.
    const log = {
      prices: [bar(s, 0, 100), bar(s, 1, 110), bar(s, 0, 101), bar(s, 2, 120), bar(s, 1, 111), bar(s, 0, 102)].map((v, i) => priceRec(v, i)),
      events: [eventRec(a.id, a, 0), eventRec(b.id, b, 1), eventRec(a.id, null, 2), eventRec(b.id, { ...b, headline: 'b2' }, 3),
        eventRec(a.id, { ...a, headline: 'a again' }, 4), eventRec(b.id, null, 5)],
    };
    const state = async () => ({ bars: await bars(s), a: await eventRow(a.id), b: await eventRow(b.id) });
    // Out of order: each log split in two writers' batches, the later half landing first, then the stale one.
    for (const h of [prices, events] as TopicHandler<unknown>[]) {
      const recs = (h === prices ? log.prices : log.events) as SinkRecord<unknown>[];
      await h.writeBatch(recs.slice(3));
      await h.writeBatch(recs.slice(0, 3));
      await h.writeBatch([recs[1]!]);
    }
    const outOfOrder = await state();
    await pool.query('DELETE FROM price_data WHERE symbol = $1', [s]);
    await deleteEventRows(pool, [a.id, b.id]);
    for (const r of log.prices) await prices.writeBatch([r]);
    for (const r of log.events) await events.writeBatch([r]);
    expect(await state()).toEqual(outOfOrder);
    expect(outOfOrder).toMatchObject({ bars: [{ close: 102, version: 5 }, { close: 111, version: 4 }, { close: 120, version: 3 }],
      a: { headline: 'a again', version: 4 }, b: null });
  });
});
