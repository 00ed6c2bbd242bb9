// Events file source and stable ids: the bundled sample is valid, labelled sample data and covers the default symbols
// and the main event kinds; ids are stable across reads and ignore tracking parameters; bad lines are rejected with
// their line number; a symbol list filters.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEventFileSource, SAMPLE_EVENTS_FILE } from '../../../producers/events/file.ts';
import { canonicalUrl, eventId } from '../../../producers/events/ids.ts';
import { createSeenIds } from '../../../producers/events/seen.ts';
import { validateMarketEvent } from '../../../topics/market-event.ts';
import type { MarketEvent } from '../../../schemas/types.generated.ts';

const dir = mkdtempSync(join(tmpdir(), 'marketstream-events-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string, now: number, symbols: string[] = []) {
  const src = createEventFileSource({ path, batchSize: 7 });
  const events: MarketEvent[] = [];
  while (!src.exhausted()) events.push(...await src.fetch(symbols, now));
  return { events, rejected: src.takeRejected() };
}

describe('events file source', () => {
  it('reads the bundled sample: valid events over the default symbols, labelled as sample data, with stable unique ids', async () => {
    const now = Date.UTC(2026, 10, 26);
    const { events, rejected } = await readAll(SAMPLE_EVENTS_FILE, now);
    expect(rejected).toEqual([]);
    expect(events.length).toBeGreaterThanOrEqual(20);
    expect(events.map((e) => validateMarketEvent(e, now)).filter(Boolean)).toEqual([]);
    expect(events.every((e) => e.source.includes('(sample data)') && e.ingestTime === now)).toBe(true);
    expect(new Set(events.flatMap((e) => e.symbols))).toEqual(new Set(['AAPL', 'MSFT', 'GOOGL', 'TSLA', 'NVDA']));
    expect(new Set(events.map((e) => e.category))).toEqual(new Set(['Earnings', 'Technology', 'Regulation', 'Legal', 'Analyst Ratings', 'Deals',
      'Management', 'Economy']));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);

    const later = await readAll(SAMPLE_EVENTS_FILE, now + 3_600_000);
    expect(later.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('keeps a given id, derives one from source + url otherwise, rejects bad lines with their line number, and filters by symbol', async () => {
    const path = join(dir, 'events.jsonl');
    writeFileSync(path, [
      '{"id":"evt-given-1","symbols":["AAPL"],"headline":"Apple event","source":"Wire","publishedAt":"2026-11-01T10:00:00Z"}',
      '# a comment',
      '{"symbols":"msft, nvda","title":"Microsoft and Nvidia ' +
        'deal","publisher":"Wire","link":"https://example.com/a?utm_source=x","publishedAt":1793527200000,"category":"Deals"}',
      'not json',
      '{"symbols":["AAPL"],"headline":"","source":"Wire","publishedAt":"2026-11-01T10:00:00Z"}',
      '{"symbols":["not a ticker"],"headline":"x","source":"Wire","publishedAt":"2026-11-01T10:00:00Z"}',
      '{"symbols":["TSLA"],"headline":"Tesla event","source":"Wire","publishedAt":"yesterday"}',
      '',
    ].join('\n'));
    const { events, rejected } = await readAll(path, 1);
    expect(events.map((e) => [e.id, e.symbols, e.headline, e.url, e.category])).toEqual([
      ['evt-given-1', ['AAPL'], 'Apple event', null, null],
      [eventId('Wire', { url: 'https://example.com/a' }), ['MSFT', 'NVDA'], 'Microsoft and Nvidia deal', 'https://example.com/a?utm_source=x', 'Deals'],
    ]);
    expect(events[1]!.publishedAt).toBe(1793527200000);
    expect(rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^line 4: not JSON/),
      'line 5: headline is missing',
      'line 6: symbol "NOT A TICKER" is not a ticker',
      'line 7: publishedAt is missing or not a time (ISO 8601 or epoch ms)',
    ]);
    expect(rejected[0]!.raw).toEqual({ file: path, line: 4, text: 'not json' });

    expect((await readAll(path, 1, ['NVDA'])).events.map((e) => e.headline)).toEqual(['Microsoft and Nvidia deal']);
  });
});

describe('event ids', () => {
  it('are 32 hex digits, the same for the same article whatever tracking parameters, fragment or host case', () => {
    const a = eventId('Reuters', { url: 'https://Example.com/news/x/?utm_source=yahoo&b=2&a=1#top' });
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(eventId('reuters', { url: 'https://example.com/news/x?a=1&b=2' })).toBe(a);
    expect(canonicalUrl('https://Example.com/news/x/?utm_source=yahoo&b=2&a=1#top')).toBe('https://example.com/news/x?a=1&b=2');
    expect(eventId('Reuters', { url: 'https://example.com/news/y' })).not.toBe(a);
    expect(eventId('Bloomberg', { url: 'https://example.com/news/x?a=1&b=2' })).not.toBe(a);
    expect(eventId('yahoo', { sourceId: 'abc' })).not.toBe(eventId('yahoo', { url: 'abc' }));
  });

  it('are remembered up to a capacity, the oldest forgotten first', () => {
    const seen = createSeenIds(3);
    for (const id of ['a', 'b', 'c']) seen.add(id);
    seen.add('a'); // seen again: now the newest
    seen.add('d');
    expect(['a', 'b', 'c', 'd'].filter((id) => seen.has(id))).toEqual(['a', 'c', 'd']);
    expect(seen.size).toBe(3);
  });
});
