// What replay's new options accept: ISO 8601 durations as kafka-consumer-groups --by-duration takes them, signed shifts,
// and kafka-consumer-groups' offsets CSV (written and read back, both its forms, every bad line named).
import { describe, expect, it } from 'vitest';
import { signedInteger } from '../../cli/options.ts';
import { OffsetsFileError } from '../../lib/errors.ts';
import { describeTarget, formatOffsetsCsv, isoTime, parseIsoDuration, parseOffsetsCsv } from '../../ops/replay.ts';

const H = 3_600_000;

describe('replay options', () => {
  it('--by-duration takes PnDTnHnMnS and nothing of variable length', () => {
    expect(parseIsoDuration('PT1H')).toBe(H);
    expect(parseIsoDuration('P1D')).toBe(24 * H);
    expect(parseIsoDuration('P1DT2H30M')).toBe(26.5 * H);
    expect(parseIsoDuration('pt90s')).toBe(90_000);
    expect(parseIsoDuration('PT0.25S')).toBe(250);
    expect(parseIsoDuration('PT1,5S')).toBe(1500);
    expect(parseIsoDuration('PT0S')).toBe(0);
    for (const bad of ['P', 'PT', 'P1DT', '1H', 'PT1.5H', '']) expect(() => parseIsoDuration(bad)).toThrow(/expected an ISO 8601 duration PnDTnHnMnS/);
    for (const bad of ['P1M', 'P1Y', 'P2W']) expect(() => parseIsoDuration(bad)).toThrow(/years, months and weeks have no fixed length, give days \(P30D\)/);
    expect(() => parseIsoDuration('-PT1H')).toThrow(/a negative duration points into the future/);
    expect(describeTarget({ kind: 'duration', iso: 'PT1H', ms: H })).toBe('PT1H ago');
  });

  it('--to-datetime and --event-time take an ISO 8601 time, a bare date being UTC midnight', () => {
    expect(isoTime('2024-06-01', '--event-time')).toBe(Date.UTC(2024, 5, 1));
    expect(isoTime('2024-06-01T09:30:00+02:00', '--event-time')).toBe(Date.UTC(2024, 5, 1, 7, 30));
    expect(() => isoTime('June 1st', '--event-time')).toThrow('--event-time "June 1st": expected an ISO 8601 time');
    expect(describeTarget({ kind: 'event-time', at: Date.UTC(2024, 5, 1) })).toBe('event time 2024-06-01T00:00:00.000Z');
  });

  it('--shift-by takes an integer of either sign', () => {
    expect(signedInteger('-5')).toBe(-5);
    expect(signedInteger('+3')).toBe(3);
    expect(signedInteger('0')).toBe(0);
    for (const bad of ['1.5', 'x', '', '9007199254740993']) expect(() => signedInteger(bad)).toThrow('expected an integer (negative: backwards)');
  });

  it('writes kafka-consumer-groups\' CSV: topic,partition,offset per line, no header, a newline after each', () => {
    expect(formatOffsetsCsv([{ topic: 'price-updates', partition: 0, offset: '12' }, { topic: 'price-updates', partition: 1, offset: 7n }]))
      .toBe('price-updates,0,12\nprice-updates,1,7\n');
  });

  it('reads it back, and the several-groups form for the group being reset', () => {
    const file = 'o.csv';
    expect(parseOffsetsCsv('price-updates,0,12\r\nprice-updates,1,7\n\n', { file, groupId: 'g' }).map((e) => [e.topic, e.partition, e.offset, e.line]))
      .toEqual([['price-updates', 0, 12n, 1], ['price-updates', 1, 7n, 2]]);
    const multi = 'g,price-updates,0,12\nother,price-updates,0,99\n"g",market-events,2,3\n';
    expect(parseOffsetsCsv(multi, { file, groupId: 'g' }).map((e) => [e.topic, e.partition, e.offset])).toEqual([['price-updates', 0, 12n],
      ['market-events', 2, 3n]]);
    expect(() => parseOffsetsCsv('other,price-updates,0,1\n',
      { file, groupId: 'g' })).toThrow('o.csv: no line for group g (1 line(s) of other groups), nothing was changed');
    expect(() => parseOffsetsCsv('\n', { file, groupId: 'g' })).toThrow('o.csv: no offsets in it');
  });

  it('names every bad line: fields, numbers, a partition given twice', () => {
    const text = ['price-updates,0,12', 'price-updates,0', 'price-updates,x,1', 'price-updates,1,-3', 'price-updates,0,13',
      'bad topic!,0,1', 'a,"b,0,1'].join('\n');
    const err = (() => { try { parseOffsetsCsv(text, { file: 'o.csv', groupId: 'g' }); } catch (e) { return e; } })() as OffsetsFileError;
    expect(err).toBeInstanceOf(OffsetsFileError);
    expect(err.lines.map((l) => [l.line, l.reason])).toEqual([
      [2, 'expected topic,partition,offset (or group,topic,partition,offset), got 2 field(s)'],
      [3, 'partition "x" is not a non-negative integer'],
      [4, 'offset "-3" is not a non-negative integer'],
      [5, 'price-updates partition 0 is already given on line 1'],
      [6, 'topic "bad topic!" is not a Kafka topic name'],
      [7, 'unbalanced quotes'],
    ]);
    expect(err.message).toMatch(/^o\.csv: 6 bad line\(s\), nothing was changed\n {2}line 2 "price-updates,0": expected topic,partition,offset/);
  });
});
