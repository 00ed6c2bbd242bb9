// The hourly Claude budget and the price table behind it.
import { describe, expect, it } from 'vitest';
import { createHourlyBudget } from '../../../lib/claude/budget.ts';
import { costUsd, parsePriceOverride, priceOf, tokensOf, UNKNOWN_MODEL_PRICE } from '../../../lib/claude/pricing.ts';

describe('hourly budget', () => {
  it('counts in-flight reservations, so concurrent calls cannot all pass the limit', () => {
    const b = createHourlyBudget({ tokensPerHour: 1000, costUsdPerHour: 0 });
    const first = b.tryReserve(600, 0);
    expect(first).not.toBeNull();
    expect(b.tryReserve(600, 0)).toBeNull(); // the first has not finished yet
    first!.release(); // it failed before being billed
    expect(b.tryReserve(600, 0)).not.toBeNull();
  });

  it('replaces the estimate by the real usage and forgets spending older than an hour', () => {
    let t = 0;
    const b = createHourlyBudget({ tokensPerHour: 1000, costUsdPerHour: 0.01 }, () => t);
    b.tryReserve(900, 0.001)!.settle(300, 0.004);
    expect(b.usage()).toMatchObject({ tokens: 300, costUsd: 0.004, oldestExpiresAt: 3_600_000 });
    expect(b.tryReserve(600, 0.007)).toBeNull(); // tokens would fit, cost would not
    t = 3_600_001;
    expect(b.usage()).toMatchObject({ tokens: 0, costUsd: 0, oldestExpiresAt: null });
    expect(b.tryReserve(600, 0.007)).not.toBeNull();
  });

  it('has no limit when both limits are 0', () => {
    const b = createHourlyBudget({ tokensPerHour: 0, costUsdPerHour: 0 });
    expect(b.tryReserve(1e12, 1e6)).not.toBeNull();
  });
});

describe('pricing', () => {
  it('costs input, output and prompt-cache tokens at the model price', () => {
    const { price, known } = priceOf('claude-haiku-5-5');
    expect(known).toBe(true);
    const t = tokensOf({ input_tokens: 1_000_000, output_tokens: 1_000_000, cache_creation_input_tokens: 0, cache_read_input_tokens: 1_000_000 });
    expect(costUsd(t, price)).toBeCloseTo(0.1 + 0.5 + 0.01, 10);
  });

  it('costs an unknown model at the highest known price, and lets configuration override the table', () => {
    expect(priceOf('claude-future-9')).toEqual({ price: UNKNOWN_MODEL_PRICE, known: false });
    expect(UNKNOWN_MODEL_PRICE.input).toBeGreaterThanOrEqual(priceOf('claude-sonnet-5-5').price.input);
    expect(priceOf('claude-future-9', parsePriceOverride('0.25/1.25'))).toEqual({ price: { input: 0.25, output: 1.25 }, known: true });
    expect(parsePriceOverride('')).toBeUndefined();
  });
});
