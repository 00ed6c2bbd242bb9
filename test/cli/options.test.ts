// The option-value parsers the commands share: what they accept, how they normalize, and the message a user sees.
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { integer, number, positiveInt, positiveMinutes, seconds, symbolList } from '../../cli/options.ts';

describe('cli option parsers', () => {
  it('symbolList upper-cases and trims tickers, and rejects an empty list or a non-ticker', () => {
    expect(symbolList(' aapl, MSFT ,brk-b,')).toEqual(['AAPL', 'MSFT', 'BRK-B']);
    expect(() => symbolList(' , ')).toThrow(new InvalidArgumentError('expected a comma-separated list of ticker symbols'));
    expect(() => symbolList('AAPL,no way')).toThrow(InvalidArgumentError);
  });

  it('number parsers keep their bounds and messages', () => {
    expect(positiveInt('3')).toBe(3);
    expect(() => positiveInt('0')).toThrow('expected a positive integer');
    expect(() => positiveInt('1.5')).toThrow('expected a positive integer');
    expect(integer(0)('0')).toBe(0);
    expect(() => integer(1)('0')).toThrow('expected an integer >= 1');
    expect(seconds('0.5')).toBe(0.5);
    expect(() => seconds('-1')).toThrow('expected a number of seconds >= 0');
    expect(() => number(0, 'a number >= 0')('x')).toThrow('expected a number >= 0');
    expect(positiveMinutes('0.5')).toBe(0.5);
    expect(() => positiveMinutes('0')).toThrow('expected a number of minutes > 0');
  });
});
