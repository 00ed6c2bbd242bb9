// The pure parts of `dlq redrive`: the position and handled-offset ranges it commits, what a dead letter becomes when
// sent back (or why it is refused), and the selection filters.
import { describe, expect, it } from 'vitest';
import { DlqHeaders } from '../../lib/dlq.ts';
import { RecordHeaders } from '../../lib/record-headers.ts';
import { isSelected, parseBound, redriveDecision } from '../../ops/dlq/redrive.ts';
import { MAX_METADATA_CHARS, RedriveState } from '../../ops/dlq/state.ts';

describe('redrive state', () => {
  it('moves the position over handled offsets and remembers the ones past a gap', () => {
    const s = RedriveState.parse(null, null, 0n);
    for (const o of [0n, 1n, 3n, 4n, 7n]) s.add(o);
    expect([s.position, s.metadata()]).toEqual([2n, 'redrive-v1:3-4,7']);
    expect([s.has(1n), s.has(2n), s.has(4n), s.has(5n)]).toEqual([true, false, true, false]);
    s.add(2n);
    expect([s.position, s.metadata()]).toEqual([5n, 'redrive-v1:7']);
  });

  it('reads back what it committed, and never stays below the log start', () => {
    const s = RedriveState.parse('10', 'redrive-v1:12-14,20', 0n);
    expect([s.position, s.has(11n), s.has(13n), s.has(15n), s.has(20n), s.metadata()]).toEqual([10n, false, true, false, true, 'redrive-v1:12-14,20']);
    expect(RedriveState.parse('-1', null, 5n).position).toBe(5n);
    expect(RedriveState.parse('10', 'redrive-v1:12-14', 13n)).toMatchObject({ position: 15n });
  });

  it('says when the remembered offsets would not fit the commit metadata', () => {
    const s = RedriveState.parse(null, null, 0n);
    let o = 1n;
    while (s.fits([o])) { s.add(o); o += 2n; }
    expect(s.metadata().length).toBeLessThanOrEqual(MAX_METADATA_CHARS);
    expect(s.fits([o - 3n])).toBe(true); // filling a gap between two ranges joins them: shorter
  });
});

describe('redrive decision', () => {
  const dead = (h: Record<string, string>, value: Buffer | null = Buffer.from([0, 1])) => ({
    key: Buffer.from('K'), value,
    headers: { source: 'test', [DlqHeaders.errorClass]: 'DecodeError', [DlqHeaders.errorMessage]: 'bad', [DlqHeaders.originalTopic]: 't',
      [DlqHeaders.originalPartition]: '1', [DlqHeaders.originalOffset]: '5', [DlqHeaders.consumerGroup]: 'g',
      [DlqHeaders.failedAt]: '2026-01-01T00:00:00Z', [DlqHeaders.originalTimestamp]: '2025-12-31T23:59:00.123Z', ...h },
  });
  const t = { topic: 't', partitions: 2 };

  it('sends the original key, bytes, headers, partition and timestamp with redrive-count + 1 and the original\'s version', () => {
    const d = redriveDecision(dead({ [DlqHeaders.redriveCount]: '2' }), t, 3);
    expect(d).toEqual({ send: true, topic: 't', errorClass: 'DecodeError',
      message: { key: Buffer.from('K'), value: Buffer.from([0, 1]), partition: 1, timestamp: String(Date.parse('2025-12-31T23:59:00.123Z')),
        headers: { source: 'test', [DlqHeaders.redriveCount]: '3', [RecordHeaders.version]: '1:5' } } });
  });

  it('keeps the version of a record redriven before, and sends by key when the topic lost the partition', () => {
    const again = redriveDecision(dead({ [RecordHeaders.version]: '1:2', [DlqHeaders.originalOffset]: '90' }), t, 3);
    expect(again).toMatchObject({ send: true, message: { partition: 1, headers: { [RecordHeaders.version]: '1:2' } } });
    const shrunk = redriveDecision(dead({ [DlqHeaders.originalTimestamp]: undefined as unknown as string }), { topic: 't', partitions: 1 }, 3);
    expect(shrunk.send && [shrunk.message.partition, shrunk.message.timestamp, shrunk.message.headers]).toEqual([undefined, undefined,
      { source: 'test', [DlqHeaders.redriveCount]: '1', [RecordHeaders.version]: '1:5' }]);
  });

  it('refuses at the limit, without a destination, to another topic, for a dropped value, for a producer rejection and for a bad count', () => {
    const reason = (h: Record<string, string>, value?: Buffer | null) => { const d = redriveDecision(dead(h, value), t, 3); return d.send ? null : d.reason; };
    expect(reason({ [DlqHeaders.redriveCount]: '3' })).toBe('max-redrives');
    expect(reason({ [DlqHeaders.originalTopic]: '' })).toBe('no-original-topic');
    expect(reason({ [DlqHeaders.originalTopic]: 'graph-mutations' })).toBe('other-topic');
    expect(reason({ [DlqHeaders.originalValueBytes]: '2000000' }, null)).toBe('value-dropped');
    expect(reason({ [DlqHeaders.originalOffset]: undefined as unknown as string })).toBe('never-published');
    expect(reason({ [DlqHeaders.redriveCount]: 'x' })).toBe('bad-redrive-count');
    expect(reason({}, null)).toBe(null); // a dead-lettered tombstone goes back as a tombstone
    expect(redriveDecision(dead({}), t, 0)).toMatchObject({ send: false, reason: 'max-redrives' });
  });
});

describe('redrive selection', () => {
  const r = { offset: 5n, timestamp: Date.parse('2026-11-20T10:00:00Z'), key: 'AAPL', headers: { [DlqHeaders.errorClass]: 'ValidationError' } };
  it('filters by class, key, and offset or time bounds (inclusive)', () => {
    expect(isSelected({}, r)).toBe(true);
    expect(isSelected({ errorClasses: ['DecodeError'] }, r)).toBe(false);
    expect(isSelected({ keys: ['MSFT', 'AAPL'] }, r)).toBe(true);
    expect(isSelected({ from: parseBound('5'), to: parseBound('5') }, r)).toBe(true);
    expect(isSelected({ from: parseBound('6') }, r)).toBe(false);
    expect(isSelected({ to: parseBound('2026-11-20T09:59:59Z') }, r)).toBe(false);
    expect(isSelected({ from: parseBound('2026-11-20') }, r)).toBe(true);
    expect(() => parseBound('yesterday')).toThrow(/offset or an ISO 8601 time/);
  });
});
