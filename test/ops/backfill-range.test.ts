// Backfill windows and replay targets: pure parsing and calendar arithmetic.
import { describe, expect, it } from 'vitest';
import { parseTickers } from '../../ops/backfill.ts';
import { SYNTHETIC_MAX_FROM, backfillWindow, type BackfillInterval } from '../../ops/backfill-range.ts';
import { parseReplayTarget } from '../../ops/replay.ts';

const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 26, 15, 30); // 2026-11-26T15:30Z

describe('backfill windows', () => {
  const w = (range: Parameters<typeof backfillWindow>[0], interval: BackfillInterval = '1d', source: 'synthetic' | 'yahoo' | 'file' = 'yahoo') =>
    backfillWindow(range, { now, interval, source });

  it('ranges count back from now in calendar units (UTC), aligned to the bar', () => {
    expect(new Date(w({ range: '7D' }).from).toISOString()).toBe('2026-11-19T00:00:00.000Z');
    expect(new Date(w({ range: '1M' }).from).toISOString()).toBe('2026-10-26T00:00:00.000Z');
    expect(new Date(w({ range: '6M' }).from).toISOString()).toBe('2026-05-26T00:00:00.000Z');
    expect(new Date(w({ range: 'YTD' }).from).toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(new Date(w({ range: '5Y' }).from).toISOString()).toBe('2021-11-26T00:00:00.000Z');
    expect(new Date(w({ days: 3 }, '1h').from).toISOString()).toBe('2026-11-23T15:00:00.000Z');
    expect(w({ range: '1Y' }).to).toBe(now);
  });

  it('MAX: synthetic daily bars start in 2000, real sources from their first bar', () => {
    expect(w({ range: 'MAX' }, '1d', 'synthetic').from).toBe(SYNTHETIC_MAX_FROM);
    expect(w({ range: 'MAX' }, '1d', 'yahoo').from).toBeLessThan(Date.UTC(1971, 0, 1));
  });

  it('hourly history is clamped to the 729 days Yahoo serves, and says so', () => {
    const r = w({ range: '5Y' }, '1h', 'yahoo');
    expect(now - r.from).toBeLessThanOrEqual(729 * DAY);
    expect(r.clamped).toMatch(/729 days/);
    expect(w({ range: '1Y' }, '1h', 'yahoo').clamped).toBeUndefined();
    expect(w({ range: 'MAX' }, '1h', 'file').clamped).toBeUndefined();
  });

  it('1m history is clamped to the last 29 days (Yahoo serves 30), for a file it is not', () => {
    const r = w({ range: '3M' }, '1m', 'yahoo');
    expect(r.from).toBe(now - 29 * DAY);
    expect(r.clamped).toBe('1m history is limited to the last 29 days');
    expect(w({ range: '7D' }, '1m', 'synthetic')).toEqual({ from: now - 7 * DAY, to: now });
    expect(w({ range: '3M' }, '1m', 'file').clamped).toBeUndefined();
  });

  it('tickers files: one per line or comma-separated, comments and duplicates dropped', () => {
    expect(parseTickers('aapl\nMSFT, nvda # chips\n\n# all\nAAPL\r\nBRK.B')).toEqual(['AAPL', 'MSFT', 'NVDA', 'BRK.B']);
  });
});

describe('replay targets', () => {
  it('parses earliest, latest, ISO times and partition:offset lists', () => {
    expect(parseReplayTarget('earliest')).toEqual({ kind: 'earliest' });
    expect(parseReplayTarget('latest')).toEqual({ kind: 'latest' });
    expect(parseReplayTarget('2026-11-20T09:00:00Z')).toEqual({ kind: 'time', at: Date.UTC(2026, 10, 20, 9) });
    expect(parseReplayTarget('2026-11-20')).toEqual({ kind: 'time', at: Date.UTC(2026, 10, 20) });
    expect(parseReplayTarget('0:10,3:7')).toEqual({ kind: 'offsets', offsets: new Map([[0, 10n], [3, 7n]]) });
  });

  it('rejects anything else with the accepted forms', () => {
    expect(() => parseReplayTarget('yesterday')).toThrow(/expected earliest, latest, an ISO 8601 time/);
    expect(() => parseReplayTarget('1:5,1:6')).toThrow(/partition 1 is given twice/);
    expect(() => parseReplayTarget('12345')).toThrow(/expected earliest/);
  });
});
