// The Claude setup the enricher's classifier and the graph producer's competitor finder share: settings from config,
// the SDK client (its own retries off: lib/resilience retries), the model's price (warned about when unknown), the
// hourly token/cost budget, the resilience wrapper (concurrency limit, retries with backoff and jitter, circuit
// breaker), and the request shape for one forced tool call, relaxed once for the process when the model rejects a
// part of it (thinking disabled, a forced tool_choice); each request in a span when tracing is on.
import Anthropic from '@anthropic-ai/sdk';
import type { Context } from '@opentelemetry/api';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { inClientSpan } from '../tracing.ts';
import { createResilience, type CircuitState, type Resilient } from '../resilience.ts';
import { createHourlyBudget, type BudgetLimits, type HourlyBudget } from './budget.ts';
import { describeApiError } from './errors.ts';
import { parsePriceOverride, priceOf, type ModelPrice } from './pricing.ts';

export interface ClaudeClientOptions {
  apiKey: string;
  /** Messages API base URL; undefined = Anthropic's. */
  baseURL?: string;
  model: string;
  timeoutMs: number;
  maxRetries: number;
  maxConcurrency: number;
  budget: BudgetLimits;
  /** Replaces the price table (CLAUDE_PRICE_PER_MTOK). */
  price?: ModelPrice;
  logger: Logger;
  /** Tuning, mostly for tests. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Consecutive failed calls (after their retries) that open the circuit. */
  failureThreshold?: number;
  resetTimeoutMs?: number;
  now?: () => number;
}

/** The settings (and variables) every Claude caller reads from config. */
export function claudeOptionsFromConfig(config: Config): Omit<ClaudeClientOptions, 'logger'> {
  return {
    apiKey: config.ANTHROPIC_API_KEY,
    baseURL: config.ANTHROPIC_BASE_URL || undefined,
    model: config.ANTHROPIC_MODEL,
    timeoutMs: config.CLAUDE_TIMEOUT_MS,
    maxRetries: config.CLAUDE_MAX_RETRIES,
    maxConcurrency: config.CLAUDE_MAX_CONCURRENCY,
    budget: { tokensPerHour: config.CLAUDE_HOURLY_TOKEN_BUDGET, costUsdPerHour: config.CLAUDE_HOURLY_COST_BUDGET_USD },
    price: parsePriceOverride(config.CLAUDE_PRICE_PER_MTOK),
  };
}

/** The tool a request forces (name, description, JSON schema of its input). */
export interface ClaudeTool { name: string; description: string; input_schema: Anthropic.Tool.InputSchema }

export interface ClaudeClient {
  client: Anthropic;
  price: ModelPrice;
  budget: HourlyBudget;
  resilience: Resilient;
  /** A request forcing `tool`, in the shape this model accepts. */
  params(p: { system: string; tool: ClaudeTool; maxTokens: number; messages: Anthropic.MessageParam[] }): Anthropic.MessageCreateParamsNonStreaming;
  /** Relaxes the request shape when a 400 names a part this model rejects; true when the request should be re-sent. */
  relaxShape(err: unknown): boolean;
  /**
   * Sends one request (`client.messages.create`). Tracing on: in a `chat <model>` span, a child of `parent` (the
   * context captured where the call was asked for, before the limiter's queue; default: the active one).
   */
  create(p: Anthropic.MessageCreateParamsNonStreaming, parent?: Context): Promise<Anthropic.Message>;
}

/** `name` names the circuit ('claude', 'claude-competitors'); `onStateChange` hears it open and close. */
export function createClaudeClient(name: string, o: ClaudeClientOptions, extra: { onStateChange?: (state: CircuitState) => void } = {}): ClaudeClient {
  const { logger, model } = o;
  const client = new Anthropic({ apiKey: o.apiKey, baseURL: o.baseURL ?? null, maxRetries: 0, timeout: o.timeoutMs });
  const { price, known } = priceOf(model, o.price);
  if (!known) logger.warn({ model, assumedPricePerMTok: price },
    'no price known for this Claude model: costing it at the highest known price (set CLAUDE_PRICE_PER_MTOK)');
  const budget = createHourlyBudget(o.budget, o.now ?? Date.now);
  const resilience = createResilience(name, {
    ratePerSecond: 50, // the concurrency limit (and the classifier's retry-after) do the pacing
    maxConcurrent: o.maxConcurrency,
    retries: o.maxRetries,
    minBackoffMs: o.minBackoffMs ?? 1000,
    maxBackoffMs: o.maxBackoffMs ?? 30_000,
    timeoutMs: 0, // the SDK times each request out (timeoutMs); the breaker must not count retry-after waits
    failureThreshold: o.failureThreshold ?? 5,
    resetTimeoutMs: o.resetTimeoutMs ?? 60_000,
  }, {
    logger,
    isRetriable: (err) => describeApiError(err).retriable,
    ...(extra.onStateChange ? { onStateChange: extra.onStateChange } : {}),
  });

  // Request shape that this model accepts; relaxed once, for the process, if the API rejects a part of it.
  const shape = { thinkingDisabled: true, forcedTool: true };

  return {
    client, price, budget, resilience,
    create: (p, parent) => inClientSpan(`chat ${p.model}`, {
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': p.model, 'gen_ai.request.max_tokens': p.max_tokens,
    }, async (span) => {
      const message = await client.messages.create(p);
      span?.setAttributes({
        'gen_ai.response.model': message.model, 'gen_ai.response.id': message.id, 'gen_ai.usage.input_tokens': message.usage.input_tokens,
        'gen_ai.usage.output_tokens': message.usage.output_tokens, ...(message.stop_reason ? { 'gen_ai.response.finish_reasons': [message.stop_reason] } : {}),
      });
      return message;
    }, parent),
    params: ({ system, tool, maxTokens, messages }) => ({
      model,
      max_tokens: maxTokens,
      system,
      tools: [tool],
      tool_choice: shape.forcedTool ? { type: 'tool', name: tool.name, disable_parallel_tool_use: true } : { type: 'auto' },
      ...(shape.thinkingDisabled ? { thinking: { type: 'disabled' } } : {}),
      messages,
    }),
    relaxShape(err) {
      const f = describeApiError(err);
      if (f.status !== 400) return false;
      const text = f.text.toLowerCase();
      if (shape.thinkingDisabled && text.includes('thinking')) {
        shape.thinkingDisabled = false;
        logger.warn({ model, apiSaid: f.text }, 'model rejects thinking: disabled; sending requests without the thinking parameter');
        return true;
      }
      if (shape.forcedTool && text.includes('tool_choice')) {
        shape.forcedTool = false;
        logger.warn({ model, apiSaid: f.text }, 'model rejects a forced tool_choice; using tool_choice auto (the prompt still asks for the tool)');
        return true;
      }
      return false;
    },
  };
}
