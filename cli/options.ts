// Parsers for command-line option values shared by the commands (commander's custom option processing): each returns
// the parsed value or throws InvalidArgumentError, whose message commander prints after the option name.
import { InvalidArgumentError } from 'commander';
import { configSpec } from '../lib/config.ts';
import { isTimeZone } from '../lib/time-zone.ts';
import type { PriceFeedName } from '../topics/price-update.ts';
import { SYMBOL_PATTERN } from '../topics/rules.ts';

/** `AAPL, msft` → ['AAPL', 'MSFT']: upper-cased ticker symbols, at least one. */
export function symbolList(v: string): string[] {
  const xs = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (xs.length === 0 || !xs.every((x) => SYMBOL_PATTERN.test(x))) throw new InvalidArgumentError('expected a comma-separated list of ticker symbols');
  return xs;
}

/** One price source, or several comma-separated in order of preference (a chain), each once: as PRICE_SOURCE reads. */
export function priceSourceList(v: string): PriceFeedName[] {
  const parsed = configSpec.PRICE_SOURCE.schema.safeParse(v);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'expected price source names');
  return parsed.data;
}

/** An IANA time zone Intl knows (America/New_York, UTC). */
export function timeZone(v: string): string {
  if (!isTimeZone(v)) throw new InvalidArgumentError('expected an IANA time zone, e.g. America/New_York');
  return v;
}

/**
 * An ISO 8601 date (00:00 UTC) or a time with its zone, in epoch ms. A time without a zone is refused: it would be read
 * in the machine's time zone.
 */
export function isoDateOrTime(v: string): number {
  const s = v.trim();
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(s) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/i.test(s);
  const t = ok ? Date.parse(s) : Number.NaN;
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected an ISO 8601 date (2026-03-02: 00:00 UTC) or a time with its zone (2026-03-02T14:30:00Z)');
  return t;
}

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** An integer >= min. */
export const integer = (min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};

/** An integer of either sign (`-5`, `+3`, `7`). */
export function signedInteger(v: string): number {
  const n = Number(v);
  if (!/^\s*[+-]?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer (negative: backwards)');
  return n;
}

/** A finite number >= min; `what` completes the error message ("expected <what>"). */
export const number = (min: number, what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected ${what}`);
  return n;
};

/** Seconds >= 0 (0 = no wait). */
export const seconds = number(0, 'a number of seconds >= 0');

export function positiveMinutes(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of minutes > 0');
  return n;
}
