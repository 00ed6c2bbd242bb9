// backfill --source file passes the file's time options on (issue #22): epoch seconds and zone-less times are refused
// unless --epoch-unit s or --time-zone says how to read them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { createHistorySource } from '../../ops/backfill.ts';
import type { HistoryRange } from '../../producers/sources/index.ts';
import { testLogger } from '../helpers/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'marketstream-backfill-times-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'bars.csv');
writeFileSync(file, ['symbol,interval,ts,open,high,low,close,volume', 'AAPL,1d,1717459200,1,2,0.5,1.5,1', 'AAPL,1h,2024-06-04T09:30:00,1,2,0.5,1.5,1']
  .join('\n'));
const range = (interval: '1d' | '1h'): HistoryRange => ({ interval, from: Date.UTC(2024, 5, 1), to: Date.UTC(2024, 5, 8) });

describe('backfill from a file: time options', () => {
  const open = (fileTimes?: { epochUnit: 'ms' | 's'; timeZone?: string }) =>
    createHistorySource('file', { config: loadConfig(), logger: testLogger(), file, ...(fileTimes ? { fileTimes } : {}) });

  it('refuses both rows by default, with their reasons', async () => {
    const src = open();
    expect(await src.history('AAPL', range('1d'))).toEqual([]);
    expect(src.takeRejected!().map((r) => r.reason)).toEqual([expect.stringMatching(/^line 2: ts "1717459200" looks like epoch seconds/),
      expect.stringMatching(/^line 3: ts "2024-06-04T09:30:00" has no time zone/)]);
  });

  it('reads them with --epoch-unit s and --time-zone America/New_York', async () => {
    const src = open({ epochUnit: 's', timeZone: 'America/New_York' });
    expect((await src.history('AAPL', range('1d'))).map((b) => new Date(b.eventTime).toISOString())).toEqual(['2024-06-04T00:00:00.000Z']);
    expect((await src.history('AAPL', range('1h'))).map((b) => new Date(b.eventTime).toISOString())).toEqual(['2024-06-04T13:30:00.000Z']);
    expect(src.takeRejected!()).toEqual([]);
  });
});
