// Claude prices per model, in USD per million tokens, used to cost each call and enforce the hourly budget.
// These prices are CONFIGURATION, not fetched: copied from Anthropic's published pricing pages (standard tier,
// prompts under Haiku 5.5's 100k-token long-prompt threshold, which our short prompts never reach).
// Check them when prices change; CLAUDE_PRICE_PER_MTOK="<input>/<output>" overrides the table for every model.
import type { Usage } from '@anthropic-ai/sdk/resources/messages/messages';

export interface ModelPrice {
  /** USD per million input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

export const MODEL_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-haiku-5-5': { input: 0.1, output: 0.5 },
  'claude-sonnet-5-5': { input: 2, output: 10 },
  'claude-opus-5-5': { input: 4, output: 20 },
  'claude-fable-5-1': { input: 10, output: 50 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-haiku-4-5-20251001': { input: 1, output: 5 },
  'claude-sonnet-4-6': { input: 3, output: 15 },
  'claude-opus-4-7': { input: 5, output: 25 },
  'claude-opus-4-6': { input: 5, output: 25 },
};

/** A model missing from the table is costed at the most expensive known price, so the budget errs on the safe side. */
export const UNKNOWN_MODEL_PRICE: ModelPrice = Object.values(MODEL_PRICES)
  .reduce((a, b) => (b.input + b.output > a.input + a.output ? b : a));

/** Parses "0.1/0.5" (input/output USD per million tokens); '' → undefined. */
export function parsePriceOverride(s: string): ModelPrice | undefined {
  if (!s) return undefined;
  const [input, output] = s.split('/').map(Number);
  return { input: input!, output: output! };
}

export function priceOf(model: string, override?: ModelPrice): { price: ModelPrice; known: boolean } {
  if (override) return { price: override, known: true };
  const price = MODEL_PRICES[model];
  return price ? { price, known: true } : { price: UNKNOWN_MODEL_PRICE, known: false };
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
}

export function tokensOf(usage: Partial<Usage> | undefined): TokenCounts {
  return {
    inputTokens: usage?.input_tokens ?? 0,
    outputTokens: usage?.output_tokens ?? 0,
    cacheCreationTokens: usage?.cache_creation_input_tokens ?? 0,
    cacheReadTokens: usage?.cache_read_input_tokens ?? 0,
  };
}

/** Cost in USD. Prompt-cache writes bill at 1.25× and reads at 0.1× the input price (Anthropic's 5-minute cache). */
export function costUsd(t: TokenCounts, price: ModelPrice): number {
  const input = t.inputTokens + 1.25 * t.cacheCreationTokens + 0.1 * t.cacheReadTokens;
  return (input * price.input + t.outputTokens * price.output) / 1_000_000;
}
