// File replay price source: CSV (with a header row) or JSONL bars, read lazily line by line and released at
// `speed` × the pace of their event times, or as fast as possible (speed 0). A line that cannot be parsed
// becomes a RejectedInput with its line number and reason, never a crash. The cursor is the first row not yet
// acknowledged: fetch() reads from it each time, and only acknowledge() moves it, so a failed send reads the same rows again.
// Times are strict: epoch ms (epoch seconds only with epochUnit "s"; a number in the other unit's range is refused), or ISO 8601
// with a zone (Z or an offset; a zone-less time only with timeZone set; a bare date is that date's 00:00 UTC, a daily bar's key),
// and a bar must start on its interval's grid (ALIGNMENT). A refused time is a rejected line, like any other.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { isTimeZone, wallTimeToUtc } from '../../lib/time-zone.ts';
import { PRICE_INTERVALS, type PriceInterval } from '../../topics/price-update.ts';
import type { PriceFeed, RejectedInput } from './types.ts';

export const fileConfigSchema = z.object({
  path: z.string().min(1).describe('CSV or JSONL file of bars: symbol, interval, ts|eventTime (ISO 8601 with a zone, or epoch ms), ' +
    'open, high, low, close, volume; ' +
    'optional quality, vwap, trades'),
  format: z.enum(['auto', 'csv', 'jsonl']).default('auto').describe('auto: by extension (.jsonl/.ndjson/.json = JSONL, else CSV)'),
  speed: z.number().min(0).default(0).describe('Replay speed: N × the pace of the event times; 0 = as fast as possible'),
  batchSize: z.number().int().min(1).default(1000).describe('Most records one fetch() returns'),
  interval: z.enum(PRICE_INTERVALS).optional().describe('Interval for rows that have none'),
  epochUnit: z.enum(['ms', 's']).default('ms')
    .describe('Unit of numeric times: epoch milliseconds, or seconds (s); a number in the other unit\'s range is refused'),
  timeZone: z.string().refine(isTimeZone, 'expected an IANA time zone (e.g. America/New_York)').optional()
    .describe('Time zone of ISO times written without Z or an offset (DST aware); without it such rows are refused'),
});
export type FileConfig = z.output<typeof fileConfigSchema>;

export interface FileSource extends PriceFeed {
  readonly name: 'file';
  exhausted(): boolean;
  acknowledge(records: readonly PriceUpdate[]): void;
  takeRejected(): RejectedInput[];
}

type Parsed = { ok: true; value: PriceUpdate } | { ok: false; reason: string; symbol: string | null };
/** One row read from the file: a record, or an input it could not parse. */
type Row = { record: PriceUpdate } | { rejected: RejectedInput };

const TIME_FIELDS = ['ts', 'eventTime', 'timestamp', 'time', 'date'] as const;
const NUMBER_FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

export function createFileSource(input: z.input<typeof fileConfigSchema>): FileSource {
  const config = fileConfigSchema.parse(input);
  const format = config.format !== 'auto' ? config.format : /\.(jsonl|ndjson|json)$/i.test(config.path) ? 'jsonl' : 'csv';
  let lines: AsyncIterator<string> | null = null;
  let closeReader: (() => void) | null = null;
  let lineNo = 0;
  let header: string[] | null = null;
  const unacknowledged: Row[] = []; // rows read past the cursor, in file order
  let covered = 0; // how many of them the last fetch went through (acknowledge drops those)
  let done = false;
  let rejected: RejectedInput[] = []; // rejected rows of the last fetch, until taken
  let replayStart: { wall: number; event: number } | null = null;

  function open(): AsyncIterator<string> {
    const stream = createReadStream(config.path, { encoding: 'utf8' });
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    closeReader = () => { rl.close(); stream.destroy(); };
    return rl[Symbol.asyncIterator]();
  }

  /** The next row of the file; null at end of file. */
  async function next(now: number): Promise<Row | null> {
    lines ??= open();
    for (;;) {
      const r = await lines.next();
      if (r.done) { done = true; return null; }
      lineNo++;
      const text = lineNo === 1 ? r.value.replace(/^\uFEFF/, '') : r.value;
      if (text.trim() === '' || text.startsWith('#')) continue;
      if (format === 'csv' && header === null) { header = splitCsv(text).map((h) => h.trim()); continue; }
      const parsed = format === 'csv' ? parseCsvRow(header as string[], text, now) : parseJsonLine(text, now);
      if (parsed.ok) return { record: parsed.value };
      return { rejected: { reason: `line ${lineNo}: ${parsed.reason}`, symbol: parsed.symbol, raw: { file: config.path, line: lineNo, text } } };
    }
  }

  function parseCsvRow(cols: string[], text: string, now: number): Parsed {
    const cells = splitCsv(text);
    if (cells.length !== cols.length) return { ok: false, reason: `expected ${cols.length} columns, got ${cells.length}`, symbol: null };
    const row: Record<string, string> = {};
    cols.forEach((c, i) => { row[c] = (cells[i] as string).trim(); });
    return toUpdate(row, now);
  }

  function parseJsonLine(text: string, now: number): Parsed {
    let obj: unknown;
    try { obj = JSON.parse(text); } catch (err) { return { ok: false, reason: `not JSON: ${(err as Error).message}`, symbol: null }; }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { ok: false, reason: 'not a JSON object', symbol: null };
    return toUpdate(obj as Record<string, unknown>, now);
  }

  function toUpdate(row: Record<string, unknown>, now: number): Parsed {
    const symbol = typeof row.symbol === 'string' && row.symbol.trim() !== '' ? row.symbol.trim().toUpperCase() : null;
    if (symbol === null) return { ok: false, reason: 'missing symbol', symbol: null };
    const fail = (reason: string): Parsed => ({ ok: false, reason, symbol });
    const interval = row.interval === undefined || row.interval === '' ? config.interval : String(row.interval);
    if (interval === undefined) return fail('missing interval');
    const timeField = TIME_FIELDS.find((f) => row[f] !== undefined && row[f] !== '');
    if (timeField === undefined) return fail(`missing time (${TIME_FIELDS.join(' or ')})`);
    const time = parseTime(row[timeField], config);
    if (typeof time === 'string') return fail(`${timeField} ${JSON.stringify(row[timeField])} ${time}`);
    const eventTime = time;
    const misaligned = misalignment(interval, eventTime);
    if (misaligned) return fail(misaligned);
    const nums: Record<string, number> = {};
    for (const f of NUMBER_FIELDS) {
      const n = parseNumber(row[f]);
      if (n === null) return fail(`${f} ${JSON.stringify(row[f] ?? null)} is not a number`);
      nums[f] = n;
    }
    let quality = 1;
    if (row.quality !== undefined && row.quality !== '') {
      const q = parseNumber(row.quality);
      if (q === null) return fail(`quality ${JSON.stringify(row.quality)} is not a number`);
      quality = q;
    }
    // Optional (price-update version 2): absent or empty means the file does not know them.
    const extra: Pick<PriceUpdate, 'vwap' | 'trades'> = {};
    if (row.vwap !== undefined && row.vwap !== '' && row.vwap !== null) {
      const v = parseNumber(row.vwap);
      if (v === null) return fail(`vwap ${JSON.stringify(row.vwap)} is not a number`);
      extra.vwap = v;
    }
    if (row.trades !== undefined && row.trades !== '' && row.trades !== null) {
      const t = parseNumber(row.trades);
      if (t === null || !Number.isSafeInteger(t)) return fail(`trades ${JSON.stringify(row.trades)} is not a whole number`);
      extra.trades = t;
    }
    return {
      ok: true,
      value: {
        symbol, interval, eventTime,
        open: nums.open as number, high: nums.high as number, low: nums.low as number, close: nums.close as number, volume: nums.volume as number,
        source: 'file', ingestTime: now, quality, final: true, ...extra, // a file's bars are final; whether adjusted it does not say
      },
    };
  }

  return {
    name: 'file',

    async fetch(symbols, now) {
      const wanted = symbols.length > 0 ? new Set(symbols) : null;
      const out: PriceUpdate[] = [];
      rejected = [];
      let i = 0;
      while (out.length < config.batchSize) {
        if (i === unacknowledged.length) {
          const row = done ? null : await next(now);
          if (row === null) break;
          unacknowledged.push(row);
        }
        const row = unacknowledged[i] as Row;
        if ('rejected' in row) { rejected.push(row.rejected); i++; continue; }
        if (config.speed > 0) {
          replayStart ??= { wall: now, event: row.record.eventTime };
          const due = replayStart.event + (now - replayStart.wall) * config.speed;
          if (row.record.eventTime > due) break; // not yet: wait for a later poll
        }
        i++;
        if (wanted === null || wanted.has(row.record.symbol)) out.push({ ...row.record, ingestTime: now });
      }
      covered = i;
      return out;
    },

    /** The last fetch's rows (records, skipped symbols and rejected lines) were acknowledged: the cursor moves past them. */
    acknowledge() {
      unacknowledged.splice(0, covered);
      covered = 0;
    },

    takeRejected() {
      const r = rejected;
      rejected = [];
      return r;
    },

    exhausted: () => done && unacknowledged.length === 0,

    async close() {
      closeReader?.();
      done = true;
      unacknowledged.length = 0;
      covered = 0;
    },
  };
}

function parseNumber(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.trim() === '') return null;
  const n = Number(v);
  return Number.isNaN(n) ? null : n;
}

// 1e11 ms is 1973-03-03; 1e11 s is the year 5138: a number below it read as ms, or above it read as s, is in the wrong unit.
const EPOCH_UNIT_LIMIT = 1e11;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** Epoch time (number or digits) in the configured unit, or ISO 8601 with a zone; a string says why not. */
function parseTime(v: unknown, o: Pick<FileConfig, 'epochUnit' | 'timeZone'>): number | string {
  const text = typeof v === 'string' ? v.trim() : v;
  if (typeof text === 'number' || (typeof text === 'string' && /^-?\d+(\.\d+)?$/.test(text))) {
    const n = Number(text);
    if (!Number.isFinite(n)) return 'is neither ISO 8601 nor epoch ms';
    if (o.epochUnit === 'ms') return n < EPOCH_UNIT_LIMIT ? 'looks like epoch seconds (before 1973 as ms); times are epoch ms unless epochUnit is "s"' : n;
    return n >= EPOCH_UNIT_LIMIT ? 'looks like epoch ms (after year 5000 as seconds); epochUnit is "s"' : Math.round(n * 1000);
  }
  const m = typeof text === 'string' ? ISO.exec(text) : null;
  if (!m) return 'is neither ISO 8601 nor epoch ms';
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const fields = [Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(sec ?? 0)] as const;
  const wall = Date.UTC(...fields) + (frac ? Math.round(Number(frac) * 1000) : 0);
  const check = new Date(wall);
  if (check.getUTCMonth() !== fields[1] || check.getUTCDate() !== fields[2] || fields[3] > 23 || fields[4] > 59 || fields[5] > 59) {
    return 'is neither ISO 8601 nor epoch ms';
  }
  if (h === undefined) return wall; // a bare date: that date's 00:00 UTC, the key of a daily bar
  if (zone === undefined) return o.timeZone ? wallTimeToUtc(wall, o.timeZone) : 'has no time zone (add Z or an offset, or set timeZone)';
  if (zone.toUpperCase() === 'Z') return wall;
  const [, sign, zh, zm] = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
  return wall - (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm ?? 0)) * 60_000;
}

/** Where each interval's bars start (UTC): hourly bars on the hour or half hour, as exchanges opening at :30 stamp them. */
const ALIGNMENT: Record<PriceInterval, { every: number; where: string } | null> = {
  tick: null,
  '1m': { every: 60_000, where: 'must start on a whole minute (UTC)' },
  '5m': { every: 300_000, where: 'must start on a multiple of 5 minutes (UTC)' },
  '1h': { every: 1_800_000, where: 'must start on the hour or half hour (UTC)' },
  '1d': { every: 86_400_000, where: 'is keyed by its date at 00:00 UTC' },
};

/** Why a bar of `interval` cannot start at `t`; null when it can (or the interval is unknown: validation reports that). */
function misalignment(interval: string, t: number): string | null {
  const rule = (ALIGNMENT as Record<string, { every: number; where: string } | null | undefined>)[interval];
  if (!rule || ((t % rule.every) + rule.every) % rule.every === 0) return null;
  return `a ${interval} bar ${rule.where}, not at ${new Date(t).toISOString()}`;
}

/** Splits one CSV line; fields may be double-quoted ("" is a quote inside). */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}
