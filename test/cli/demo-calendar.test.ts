// The demo's live ticks: on the configured calendar while the US market trades for the whole run (they continue the
// backfilled series), around the clock otherwise, so the demo shows moving prices at night and on weekends too.
import { describe, expect, it } from 'vitest';
import { liveCalendar } from '../../cli/demo/pipeline.ts';

const MIN = 60_000;

describe('demo live calendar', () => {
  it('keeps us during a session that lasts the run, else trades 24x7', () => {
    const tuesday = Date.parse('2026-01-13T15:00:00Z'); // 10:00 New York
    expect(liveCalendar('us', tuesday, 5 * MIN)).toBe('us');
    expect(liveCalendar('us', Date.parse('2026-01-13T20:58:00Z'), 5 * MIN)).toBe('24x7'); // the close comes first
    expect(liveCalendar('us', Date.parse('2026-01-10T15:00:00Z'), 5 * MIN)).toBe('24x7'); // Saturday
    expect(liveCalendar('us', Date.parse('2026-01-19T15:00:00Z'), 5 * MIN)).toBe('24x7'); // MLK Day
    expect(liveCalendar('24x7', tuesday, 5 * MIN)).toBe('24x7');
  });
});
