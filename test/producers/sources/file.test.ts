// File source: CSV and JSONL bars, replay pacing by event time, per-line rejects with reasons (never a crash).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileSource } from '../../../producers/sources/file.ts';

const dir = mkdtempSync(join(tmpdir(), 'marketstream-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
const T0 = Date.UTC(2026, 0, 5, 14, 30);
const NOW = Date.UTC(2026, 0, 6);
const D0 = Date.UTC(2026, 0, 5); // a daily bar's key: its date at 00:00 UTC

describe('file source', () => {
  it('reads CSV with a header, ISO or epoch-ms times, quoted fields and CRLF, as fast as possible', async () => {
    const path = write('bars.csv', [
      '\uFEFFsymbol,interval,ts,open,high,low,close,volume',
      'AAPL,1m,2026-01-05T14:30:00Z,100,101,99.5,100.5,1200',
      `"msft",1m,${T0},400,401,399,400.25,"3400"`,
      '',
      'AAPL,1m,2026-01-05T14:31:00.000Z,100.5,100.9,100.1,100.8,900',
    ].join('\r\n'));
    const src = createFileSource({ path });
    const got = await src.fetch([], NOW);
    expect(got).toEqual([
      { symbol: 'AAPL', interval: '1m', eventTime: T0, open: 100, high: 101, low: 99.5, close: 100.5, volume: 1200, source: 'file',
        ingestTime: NOW, quality: 1, final: true },
      { symbol: 'MSFT', interval: '1m', eventTime: T0, open: 400, high: 401, low: 399, close: 400.25, volume: 3400, source: 'file',
        ingestTime: NOW, quality: 1, final: true },
      { symbol: 'AAPL', interval: '1m', eventTime: T0 + 60_000, open: 100.5, high: 100.9, low: 100.1, close: 100.8, volume: 900, source: 'file',
        ingestTime: NOW, quality: 1, final: true },
    ]);
    expect(src.exhausted()).toBe(false); // read to the end, not acknowledged yet
    expect(src.takeRejected()).toEqual([]);
    src.acknowledge(got);
    expect(src.exhausted()).toBe(true);
    expect(await src.fetch([], NOW)).toEqual([]);
  });

  it('turns unparseable lines into rejects with line number and reason, and keeps going', async () => {
    const path = write('bars.jsonl', [
      JSON.stringify({ symbol: 'AAPL', interval: '1d', eventTime: D0, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }),
      '{"symbol": "AAPL", "interval": "1d", ', // truncated JSON
      JSON.stringify({ symbol: 'AAPL', interval: '1d', eventTime: 'yesterday', open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }),
      JSON.stringify({ symbol: 'AAPL', interval: '1d', eventTime: D0, open: 1, high: 'n/a', low: 0.5, close: 1.5, volume: 10 }),
      JSON.stringify({ interval: '1d', eventTime: D0, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10 }),
      '[1,2,3]',
      // parses fine; breaking OHLC is for validation to reject, not the parser
      JSON.stringify({ symbol: 'TSLA', interval: '1d', ts: '2026-01-06T00:00:00Z', open: 10, high: 9, low: 11, close: 10, volume: 5, quality: 0.5 }),
    ].join('\n'));
    const src = createFileSource({ path });
    const got = await src.fetch([], NOW);
    expect(got.map((b) => [b.symbol, b.high, b.low, b.quality])).toEqual([['AAPL', 2, 0.5, 1], ['TSLA', 9, 11, 0.5]]);
    const rejected = src.takeRejected();
    expect(rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^line 2: not JSON/),
      'line 3: eventTime "yesterday" is neither ISO 8601 nor epoch ms',
      'line 4: high "n/a" is not a number',
      'line 5: missing symbol',
      'line 6: not a JSON object',
    ]);
    expect(rejected[2]).toMatchObject({ symbol: 'AAPL', raw: { file: path, line: 4 } });
    expect(rejected[3]?.symbol).toBeNull();
    expect(src.takeRejected()).toEqual([]); // handed over once
  });

  it('reads the optional vwap and trades columns (price-update version 2), empty meaning unknown', async () => {
    const path = write('v2.csv', [
      'symbol,interval,ts,open,high,low,close,volume,vwap,trades',
      'AAPL,1m,2026-01-05T14:30:00Z,100,101,99.5,100.5,1200,100.37,41',
      'MSFT,1m,2026-01-05T14:30:00Z,400,401,399,400.25,3400,,',
      'TSLA,1m,2026-01-05T14:30:00Z,400,401,399,400.25,3400,n/a,3',
      'JPM,1m,2026-01-05T14:30:00Z,400,401,399,400.25,3400,400,2.5',
    ].join('\n'));
    const src = createFileSource({ path });
    const got = await src.fetch([], NOW);
    expect(got.map((b) => [b.symbol, b.vwap, b.trades])).toEqual([['AAPL', 100.37, 41], ['MSFT', undefined, undefined]]);
    expect(src.takeRejected().map((r) => r.reason)).toEqual(['line 4: vwap "n/a" is not a number', 'line 5: trades "2.5" is not a whole number']);
    const jsonl = write('v2.jsonl', JSON.stringify({ symbol: 'AAPL', interval: '1d', eventTime: D0, open: 1, high: 2, low: 0.5, close: 1.5, volume: 10,
      vwap: 1.2, trades: 4 }));
    expect(await createFileSource({ path: jsonl }).fetch([], NOW)).toMatchObject([{ vwap: 1.2, trades: 4 }]);
  });

  it('rejects CSV rows with the wrong number of columns or a missing interval', async () => {
    const path = write('short.csv', 'symbol,ts,open,high,low,close,volume\nAAPL,2026-01-05T00:00:00Z,1,2,0.5,1.5\nAAPL,2026-01-05T00:00:00Z,1,2,0.5,1.5,7\n');
    const src = createFileSource({ path });
    expect(await src.fetch([], NOW)).toEqual([]);
    expect(src.takeRejected().map((r) => r.reason)).toEqual(['line 2: expected 7 columns, got 6', 'line 3: missing interval']);
    const withDefault = createFileSource({ path, interval: '1d' });
    expect((await withDefault.fetch([], NOW)).map((b) => b.interval)).toEqual(['1d']);
  });

  it('replays at N × the pace of the event times, and caps a fetch at batchSize', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => `AAPL,1m,${T0 + i * 60_000},1,2,0.5,1.5,${i + 1}`);
    const path = write('paced.csv', ['symbol,interval,ts,open,high,low,close,volume', ...rows].join('\n'));
    const src = createFileSource({ path, speed: 60 }); // one minute of bars per second
    const wall = 1_000_000;
    const volumes = async (s: typeof src, at: number) => { const got = await s.fetch([], at); s.acknowledge(got); return got.map((b) => b.volume); };
    expect(await volumes(src, wall)).toEqual([1]);
    expect(await volumes(src, wall + 500)).toEqual([]);
    expect(await volumes(src, wall + 1000)).toEqual([2]);
    expect(await volumes(src, wall + 3100)).toEqual([3, 4]);
    expect(src.exhausted()).toBe(false);
    expect(await volumes(src, wall + 9000)).toEqual([5]);
    expect(await volumes(src, wall + 9000)).toEqual([]);
    expect(src.exhausted()).toBe(true);

    const batched = createFileSource({ path, batchSize: 2 });
    expect(await volumes(batched, wall)).toEqual([1, 2]);
    expect(await volumes(batched, wall)).toEqual([3, 4]);
    expect(await volumes(batched, wall)).toEqual([5]);
  });

  it('reads the same rows (and rejected lines) again until acknowledge moves the cursor past them', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => `AAPL,1m,${T0 + i * 60_000},1,2,0.5,1.5,${i + 1}`);
    const path = write('cursor.csv', ['symbol,interval,ts,open,high,low,close,volume', rows[0], 'AAPL,1m,x,1,2,0.5,1.5,9', ...rows.slice(1)].join('\n'));
    const src = createFileSource({ path, batchSize: 2 });
    const volumes = (bars: readonly { volume: number }[]) => bars.map((b) => b.volume);
    const first = await src.fetch([], NOW);
    expect(volumes(first)).toEqual([1, 2]);
    expect(src.takeRejected().map((r) => r.reason)).toEqual(['line 3: ts "x" is neither ISO 8601 nor epoch ms']);
    // The send failed for good: the same rows, and the same rejected line, next time.
    expect(volumes(await src.fetch([], NOW + 1000))).toEqual([1, 2]);
    expect(src.takeRejected()).toHaveLength(1);
    src.acknowledge(first);
    const second = await src.fetch([], NOW + 2000);
    expect(volumes(second)).toEqual([3, 4]);
    expect(src.takeRejected()).toEqual([]);
    src.acknowledge(second);
    const last = await src.fetch([], NOW + 3000);
    expect(volumes(last)).toEqual([5]);
    expect(src.exhausted()).toBe(false);
    expect(volumes(await src.fetch([], NOW + 4000))).toEqual([5]);
    src.acknowledge(last);
    expect(src.exhausted()).toBe(true);
    expect(await src.fetch([], NOW + 5000)).toEqual([]);
  });

  it('keeps only the requested symbols when given some', async () => {
    const path = write('mixed.csv', 'symbol,interval,ts,open,high,low,close,volume\nAAPL,1d,1767571200000,1,2,0.5,1.5,1\nJPM,1d,1767571200000,1,2,0.5,1.5,1\n');
    expect((await createFileSource({ path }).fetch(['JPM'], NOW)).map((b) => b.symbol)).toEqual(['JPM']);
  });

  it('fails fetch (not the process) when the file is missing', async () => {
    await expect(createFileSource({ path: join(dir, 'nope.csv') }).fetch([], NOW)).rejects.toThrow(/ENOENT/);
  });
});

describe('file source, strict timestamps (issue #22)', () => {
  const header = 'symbol,interval,ts,open,high,low,close,volume';
  const reasons = async (rows: string[], opts: Record<string, unknown> = {}) => {
    const src = createFileSource({ path: write(`strict-${Math.random()}.csv`, [header, ...rows].join('\n')), ...opts });
    const got = await src.fetch([], NOW);
    return { times: got.map((b) => new Date(b.eventTime).toISOString()), rejected: src.takeRejected().map((r) => r.reason) };
  };

  it('refuses epoch seconds where epoch ms are expected, and reads them as seconds only when epochUnit says so', async () => {
    const rows = ['AAPL,1d,1717459200,1,2,0.5,1.5,1', 'AAPL,1d,1717545600000,1,2,0.5,1.5,1'];
    expect(await reasons(rows)).toEqual({ times: ['2024-06-05T00:00:00.000Z'],
      rejected: ['line 2: ts "1717459200" looks like epoch seconds (before 1973 as ms); times are epoch ms unless epochUnit is "s"'] });
    expect(await reasons(rows, { epochUnit: 's' })).toEqual({ times: ['2024-06-04T00:00:00.000Z'],
      rejected: ['line 3: ts "1717545600000" looks like epoch ms (after year 5000 as seconds); epochUnit is "s"'] });
    const line = { symbol: 'AAPL', interval: '1d', eventTime: 1717459200, open: 1, high: 2, low: 0.5, close: 1.5, volume: 1 };
    const jsonl = write('seconds.jsonl', JSON.stringify(line));
    const src = createFileSource({ path: jsonl });
    expect(await src.fetch([], NOW)).toEqual([]);
    expect(src.takeRejected().map((r) => r.reason)).toEqual([expect.stringMatching(/^line 1: eventTime 1717459200 looks like epoch seconds/)]);
  });

  it('refuses an ISO time without a zone unless a time zone is configured (DST aware), and text that is not ISO 8601', async () => {
    const rows = ['AAPL,1m,2024-06-04T13:30:00,1,2,0.5,1.5,1', 'AAPL,1m,2024-12-04T13:30:00,1,2,0.5,1.5,1', 'AAPL,1m,2024-06-04T13:30:00+02:00,1,2,0.5,1.5,1',
      'AAPL,1m,June 4 2024 13:30,1,2,0.5,1.5,1'];
    expect(await reasons(rows)).toEqual({ times: ['2024-06-04T11:30:00.000Z'], rejected: [
      'line 2: ts "2024-06-04T13:30:00" has no time zone (add Z or an offset, or set timeZone)',
      'line 3: ts "2024-12-04T13:30:00" has no time zone (add Z or an offset, or set timeZone)',
      'line 5: ts "June 4 2024 13:30" is neither ISO 8601 nor epoch ms'] });
    expect(await reasons(rows, { timeZone: 'America/New_York' })).toEqual({
      times: ['2024-06-04T17:30:00.000Z', '2024-12-04T18:30:00.000Z', '2024-06-04T11:30:00.000Z'],
      rejected: ['line 5: ts "June 4 2024 13:30" is neither ISO 8601 nor epoch ms'] });
    expect(() => createFileSource({ path: 'x.csv', timeZone: 'Mars/Olympus' })).toThrow(/time zone/);
  });

  it('refuses a bar whose time is not aligned to its interval', async () => {
    const rows = ['AAPL,1m,2024-06-04T13:32:17Z,1,2,0.5,1.5,1', 'AAPL,1m,2024-06-04T13:32:00Z,1,2,0.5,1.5,1', 'AAPL,5m,2024-06-04T13:32:00Z,1,2,0.5,1.5,1',
      'AAPL,5m,2024-06-04T13:35:00Z,1,2,0.5,1.5,1', 'AAPL,1h,2024-06-04T13:15:00Z,1,2,0.5,1.5,1', 'AAPL,1h,2024-06-04T13:30:00Z,1,2,0.5,1.5,1',
      'AAPL,1d,2024-06-04T13:30:00Z,1,2,0.5,1.5,1', 'AAPL,1d,2024-06-04,1,2,0.5,1.5,1', 'AAPL,tick,2024-06-04T13:32:17.250Z,1,2,0.5,1.5,1'];
    expect(await reasons(rows)).toEqual({
      times: ['2024-06-04T13:32:00.000Z', '2024-06-04T13:35:00.000Z', '2024-06-04T13:30:00.000Z', '2024-06-04T00:00:00.000Z', '2024-06-04T13:32:17.250Z'],
      rejected: [
        'line 2: a 1m bar must start on a whole minute (UTC), not at 2024-06-04T13:32:17.000Z',
        'line 4: a 5m bar must start on a multiple of 5 minutes (UTC), not at 2024-06-04T13:32:00.000Z',
        'line 6: a 1h bar must start on the hour or half hour (UTC), not at 2024-06-04T13:15:00.000Z',
        'line 8: a 1d bar is keyed by its date at 00:00 UTC, not at 2024-06-04T13:30:00.000Z',
      ] });
  });
});
