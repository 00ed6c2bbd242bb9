// JSONL market-event file source: one event per line, read lazily and handed out in batches; the offline default
// (the bundled sample-events.jsonl). A line that cannot be parsed becomes a RejectedInput with its line number and
// reason, never a crash. Fields: id? (kept when given, e.g. a dump of the topic), symbols (list or "A,B"),
// headline (or title), summary?, source (publisher), url?, publishedAt (ISO 8601 or epoch ms), category?.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { eventId } from './ids.ts';
import type { EventSource, RejectedInput } from './types.ts';

/** The bundled sample: ~20 events over AAPL, MSFT, GOOGL, TSLA, NVDA, labelled "(sample data)" in `source`. */
export const SAMPLE_EVENTS_FILE = fileURLToPath(new URL('./sample-events.jsonl', import.meta.url));

export const eventFileConfigSchema = z.object({
  path: z.string().min(1).default(SAMPLE_EVENTS_FILE).describe('JSONL file of events (default: the bundled sample-events.jsonl)'),
  batchSize: z.number().int().min(1).default(500).describe('Most events one fetch() returns'),
});
export type EventFileConfig = z.output<typeof eventFileConfigSchema>;

export interface EventFileSource extends EventSource {
  readonly name: 'file';
  exhausted(): boolean;
  takeRejected(): RejectedInput[];
}

type Parsed = { ok: true; value: MarketEvent } | { ok: false; reason: string };

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

function parseTime(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v !== 'string' || v.trim() === '') return null;
  const t = /^\d+$/.test(v.trim()) ? Number(v) : Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** One JSON object → a MarketEvent (ingested `now`), or why not. Exported for tests and other JSON feeds. */
export function parseEventObject(obj: Record<string, unknown>, now: number): Parsed {
  const headline = str(obj.headline) ?? str(obj.title);
  if (!headline) return { ok: false, reason: 'headline is missing' };
  const source = str(obj.source) ?? str(obj.publisher);
  if (!source) return { ok: false, reason: 'source is missing' };
  const rawSymbols = Array.isArray(obj.symbols) ? obj.symbols : typeof obj.symbols === 'string' ? obj.symbols.split(',') : null;
  if (!rawSymbols) return { ok: false, reason: 'symbols is missing (a list of tickers, or "A,B")' };
  const symbols = [...new Set(rawSymbols.map((s) => String(s).trim().toUpperCase()).filter(Boolean))];
  const bad = symbols.find((s) => !SYMBOL_PATTERN.test(s));
  if (bad !== undefined) return { ok: false, reason: `symbol ${JSON.stringify(bad)} is not a ticker` };
  const publishedAt = parseTime(obj.publishedAt ?? obj.published_at ?? obj.time);
  if (publishedAt === null) return { ok: false, reason: 'publishedAt is missing or not a time (ISO 8601 or epoch ms)' };
  const url = str(obj.url) ?? str(obj.link);
  const id = str(obj.id) ?? eventId(source, url ? { url } : { sourceId: `${publishedAt}:${headline}` });
  return {
    ok: true,
    value: { id, symbols, headline, summary: str(obj.summary), source, url, publishedAt, category: str(obj.category), ingestTime: now },
  };
}

export function createEventFileSource(input: z.input<typeof eventFileConfigSchema> = {}): EventFileSource {
  const config = eventFileConfigSchema.parse(input);
  let lines: AsyncIterator<string> | null = null;
  let closeReader: (() => void) | null = null;
  let lineNo = 0;
  let done = false;
  let rejected: RejectedInput[] = [];

  function open(): AsyncIterator<string> {
    const stream = createReadStream(config.path, { encoding: 'utf8' });
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    closeReader = () => { rl.close(); stream.destroy(); };
    return rl[Symbol.asyncIterator]();
  }

  function parseLine(text: string, now: number): Parsed {
    let obj: unknown;
    try { obj = JSON.parse(text); } catch (err) { return { ok: false, reason: `not JSON: ${(err as Error).message}` }; }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { ok: false, reason: 'not a JSON object' };
    return parseEventObject(obj as Record<string, unknown>, now);
  }

  return {
    name: 'file',

    async fetch(symbols, now) {
      const wanted = new Set(symbols);
      const out: MarketEvent[] = [];
      lines ??= open();
      while (!done && out.length < config.batchSize) {
        const r = await lines.next();
        if (r.done) { done = true; closeReader?.(); break; }
        lineNo++;
        const text = lineNo === 1 ? r.value.replace(/^\uFEFF/, '') : r.value;
        if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
        const parsed = parseLine(text, now);
        if (!parsed.ok) {
          rejected.push({ reason: `line ${lineNo}: ${parsed.reason}`, symbol: null, raw: { file: config.path, line: lineNo, text } });
          continue;
        }
        // With a symbol list, only events mentioning one of them (an empty list keeps everything).
        if (wanted.size === 0 || parsed.value.symbols.some((s) => wanted.has(s))) out.push(parsed.value);
      }
      return out;
    },

    takeRejected() {
      const r = rejected;
      rejected = [];
      return r;
    },

    exhausted: () => done,

    async close() {
      closeReader?.();
      done = true;
    },
  };
}
