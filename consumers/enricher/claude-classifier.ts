// Classification by Claude: one Messages API request with the forced `classify_event` tool, its answer
// validated with zod (one corrective turn when malformed), behind a concurrency limit, retries with backoff
// and jitter (retry-after honoured), a circuit breaker and an hourly token/cost budget. Whenever Claude cannot
// give a valid answer the rule-based classifier answers instead, and the result says why (`fallbackReason`).
//
// The budget is reserved when a request is sent, inside its concurrency slot (not when the call is queued: a batch
// waiting for slots holds nothing), settled with the real usage when the answer arrives, and taken back when the API
// refused the request. The budget may be shared by a whole group (`budgetStore`, lib/claude/shared-budget.ts).
import type Anthropic from '@anthropic-ai/sdk';
import type { Context } from '@opentelemetry/api';
import {
  closeFailedReservation, costUsd, createClaudeClient, describeApiError, processBudget, tokensOf,
  type Budget, type CallOutcome, type ClaudeClient, type ClaudeClientOptions, type TokenCounts,
} from '../../lib/claude/index.ts';
import { CircuitOpenError, errorMessage } from '../../lib/errors.ts';
import { activeContext } from '../../lib/tracing.ts';
import { CLASSIFY_TOOL, estimateInputTokens, renderEvent, SYSTEM_PROMPT, TOOL_NAME } from './prompt.ts';
import { asFallback, type RulesClassifier } from './rules-classifier.ts';
import { fromToolAnswer, toolAnswerSchema, type Classification, type EventToClassify, type ToolAnswer } from './types.ts';

/** One Messages API request, as reported to `onCall` (metrics hook in here). Failed requests have 0 tokens. */
export interface ClaudeCall {
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  outcome: CallOutcome;
  eventId: string;
}

/** The client settings (lib/claude: apiKey, model, budget, tuning…) plus the classifier's own. */
export interface ClaudeClassifierOptions extends ClaudeClientOptions {
  rules: RulesClassifier;
  onCall?: (call: ClaudeCall) => void;
  /** Longest retry-after honoured; a longer one is capped to it. */
  maxRetryAfterMs?: number;
  /** Where the hourly budget is kept; default: this process (`budget` limits). The enricher shares one per group. */
  budgetStore?: Budget;
}

export interface ClaudeClassifier {
  classify(event: EventToClassify): Promise<Classification>;
  close(): Promise<void>;
}

/** Room for the tool answer (about 150-300 tokens), with margin; also what the budget reserves for the output. */
export const MAX_OUTPUT_TOKENS = 1024;

type Answer =
  | { kind: 'ok'; answer: ToolAnswer }
  | { kind: 'refusal' }
  | { kind: 'invalid'; problem: string; toolUseId?: string };

type CallResult =
  | { kind: 'message'; message: Anthropic.Message; latencyMs: number }
  | { kind: 'fallback'; reason: string };

/** What one request in its concurrency slot came to (a budget refusal is not an API failure: no retry, no breaker count). */
type Sent =
  | { kind: 'message'; message: Anthropic.Message; latencyMs: number }
  | { kind: 'budget' }
  | { kind: 'budget-unavailable'; error: unknown };

/** Tokens of a request's estimate: the input estimated from its text, the output at its maximum. */
export interface RequestEstimate { inputTokens: number; outputTokens: number }

function estimateOf(messages: Anthropic.MessageParam[]): RequestEstimate {
  return { inputTokens: estimateInputTokens(JSON.stringify(messages)), outputTokens: MAX_OUTPUT_TOKENS };
}

/** The estimate the budget reserves for classifying `event` (its first request), e.g. to cost a reclassification beforehand. */
export function requestEstimate(event: EventToClassify): RequestEstimate {
  return estimateOf([{ role: 'user', content: renderEvent(event) }]);
}

const billedTokens = (t: TokenCounts) => t.inputTokens + t.cacheCreationTokens + t.cacheReadTokens + t.outputTokens;

function readAnswer(message: Anthropic.Message): Answer {
  if (message.stop_reason === 'refusal') return { kind: 'refusal' };
  const block = message.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.name === TOOL_NAME);
  if (!block) return { kind: 'invalid', problem: `no ${TOOL_NAME} tool call in the answer (stop_reason ${message.stop_reason})` };
  const parsed = toolAnswerSchema.safeParse(block.input);
  if (parsed.success) return { kind: 'ok', answer: parsed.data };
  const problem = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
  return { kind: 'invalid', problem, toolUseId: block.id };
}

/** The assistant turn sent back unchanged (by block type) so the corrective turn can answer its tool call. */
function echo(content: readonly Anthropic.ContentBlock[]): Anthropic.ContentBlockParam[] {
  const out: Anthropic.ContentBlockParam[] = [];
  for (const b of content) {
    if (b.type === 'text') out.push({ type: 'text', text: b.text });
    else if (b.type === 'tool_use') out.push({ type: 'tool_use', id: b.id, name: b.name, input: b.input });
    else if (b.type === 'thinking') out.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
    else if (b.type === 'redacted_thinking') out.push({ type: 'redacted_thinking', data: b.data });
  }
  return out;
}

function correctiveTurn(messages: Anthropic.MessageParam[], message: Anthropic.Message,
  answer: Extract<Answer, { kind: 'invalid' }>): Anthropic.MessageParam[] {
  const instruction = `Your ${TOOL_NAME} input was invalid: ${answer.problem}. Call ${TOOL_NAME} again with corrected input that follows the schema.`;
  const assistant = echo(message.content);
  if (!assistant.length) return [{ role: 'user', content: [{ type: 'text', text: renderedUser(messages) }, { type: 'text', text: instruction }] }];
  const reply: Anthropic.ContentBlockParam[] = answer.toolUseId
    ? [{ type: 'tool_result', tool_use_id: answer.toolUseId, is_error: true, content: instruction }]
    : [{ type: 'text', text: instruction }];
  return [...messages, { role: 'assistant', content: assistant }, { role: 'user', content: reply }];
}

function renderedUser(messages: Anthropic.MessageParam[]): string {
  const first = messages[0]?.content;
  return typeof first === 'string' ? first : '';
}

/** What every request of one classifier shares: its options, its client, and the waits and budget state it keeps. */
interface Claude extends ClaudeClient {
  o: ClaudeClassifierOptions;
  logger: ClaudeClassifierOptions['logger'];
  model: string;
  now: () => number;
  maxRetryAfterMs: number;
  budgetStore: Budget;
  /** After a 429/529 with retry-after, no request starts before this time (shared by all concurrent calls). */
  notBefore: number;
  budgetBlocked: boolean;
}

export function createClaudeClassifier(o: ClaudeClassifierOptions): ClaudeClassifier {
  const { logger, model } = o;
  const client = createClaudeClient('claude', o, {
    onStateChange: (state) => {
      if (state === 'open') logger.warn({ model }, 'Claude keeps failing (circuit open): the rule-based classifier answers until a trial call succeeds');
      if (state === 'closed') logger.info({ model }, 'Claude answers again (circuit closed)');
    },
  });
  const c: Claude = {
    ...client, o, logger, model, now: o.now ?? Date.now, maxRetryAfterMs: o.maxRetryAfterMs ?? 60_000,
    budgetStore: o.budgetStore ?? processBudget(client.budget), notBefore: 0, budgetBlocked: false,
  };
  return { classify: (event) => classify(c, event), close: () => c.resilience.shutdown() };
}

function emit(c: Claude, call: Omit<ClaudeCall, 'model'>): void {
  const full = { model: c.model, ...call };
  c.logger.info(full, `claude call ${call.outcome}`);
  try { c.o.onCall?.(full); } catch (err) { c.logger.warn({ err }, 'onCall hook failed (ignored)'); }
}

/**
 * One request, in its concurrency slot: reserves the estimate, sends, settles the real usage (or takes the estimate
 * back when the API refused it); re-sent at once after a shape relaxation. Failed requests are reported, then
 * rethrown for the retry policy.
 */
async function request(c: Claude, messages: Anthropic.MessageParam[], eventId: string, estimate: { tokens: number; costUsd: number },
  parent: Context): Promise<Sent> {
  for (;;) {
    const wait = c.notBefore - c.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let reservation;
    try {
      reservation = await c.budgetStore.tryReserve(estimate.tokens, estimate.costUsd);
    } catch (error) {
      return { kind: 'budget-unavailable', error };
    }
    if (!reservation) return { kind: 'budget' };
    const started = performance.now();
    try {
      const message = await c.create(c.params({ system: SYSTEM_PROMPT, tool: CLASSIFY_TOOL, maxTokens: MAX_OUTPUT_TOKENS, messages }), parent);
      const t = tokensOf(message.usage);
      await reservation.settle(billedTokens(t), costUsd(t, c.price));
      return { kind: 'message', message, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      const f = describeApiError(err);
      await closeFailedReservation(reservation, f, estimate); // a timeout may have been billed: its estimate stays counted
      emit(c, { eventId, inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs: Math.round(performance.now() - started), outcome: f.outcome });
      if (c.relaxShape(err)) continue;
      if (f.retriable && f.retryAfterMs !== null) {
        const ms = Math.min(f.retryAfterMs, c.maxRetryAfterMs);
        c.notBefore = Math.max(c.notBefore, c.now() + ms);
        c.logger.warn({ eventId, status: f.status, retryAfterMs: ms }, 'Claude asked to slow down: honouring retry-after before the next request');
      }
      throw err;
    }
  }
}

async function budgetReached(c: Claude): Promise<void> {
  if (c.budgetBlocked) return;
  c.budgetBlocked = true;
  const u = await c.budgetStore.usage().catch(() => null);
  c.logger.warn({
    budget: c.budgetStore.where, tokenBudget: c.o.budget.tokensPerHour, costBudgetUsd: c.o.budget.costUsdPerHour,
    ...(u ? {
      tokensLastHour: u.tokens, costUsdLastHour: Number(u.costUsd.toFixed(4)),
      freesUpAt: u.oldestExpiresAt ? new Date(u.oldestExpiresAt).toISOString() : null,
    } : {}),
  }, 'Claude hourly budget reached: the rule-based classifier answers until spending in the last hour falls under the budget');
}

/** One logical call: the request under limiter, breaker and retries, the budget reserved in its slot. */
async function call(c: Claude, messages: Anthropic.MessageParam[], event: EventToClassify): Promise<CallResult> {
  const est = estimateOf(messages);
  const estimate = { tokens: est.inputTokens + est.outputTokens, costUsd: costUsd({ ...tokensOf(undefined), ...est }, c.price) };
  let sent: Sent;
  try {
    const parent = activeContext(); // the enricher's store-write span: the limiter may run the request from another batch's context
    sent = await c.resilience.run(() => request(c, messages, event.id, estimate, parent), TOOL_NAME);
  } catch (err) {
    const f = describeApiError(err);
    const reason = `api-error: ${f.text}`;
    if (err instanceof CircuitOpenError) c.logger.debug({ eventId: event.id }, 'Claude circuit open: rule-based classification');
    else c.logger.warn({ eventId: event.id, reason }, 'Claude call failed: rule-based classification used for this event');
    return { kind: 'fallback', reason };
  }
  if (sent.kind === 'budget-unavailable') {
    // The shared budget's store is down: not a reason to answer with the rules for good. The caller retries.
    c.logger.warn({ eventId: event.id, budget: c.budgetStore.where, err: errorMessage(sent.error) }, 'Claude budget cannot be read: not classifying now');
    throw sent.error;
  }
  if (sent.kind === 'budget') {
    await budgetReached(c);
    return { kind: 'fallback', reason: 'budget' };
  }
  if (c.budgetBlocked) {
    c.budgetBlocked = false;
    c.logger.info({ model: c.model }, 'Claude hourly budget available again: classifying with Claude');
  }
  return sent;
}

/** Classifies one event: Claude's answer, validated (one corrective turn), or the rules' with the reason. */
async function classify(c: Claude, event: EventToClassify): Promise<Classification> {
  let messages: Anthropic.MessageParam[] = [{ role: 'user', content: renderEvent(event) }];
  // What the answered requests of this classification were billed (kept on the result: graph provenance, explain).
  const spent = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const withUsage = (x: Classification): Classification => (spent.inputTokens || spent.outputTokens ? { ...x, usage: { ...spent } } : x);
  const fallback = (reason: string) => withUsage(asFallback(c.o.rules.classify(event), reason));
  for (let turn = 1; ; turn++) {
    const r = await call(c, messages, event);
    if (r.kind === 'fallback') return fallback(r.reason);
    const answer = readAnswer(r.message);
    const t = tokensOf(r.message.usage);
    const billed = { inputTokens: t.inputTokens + t.cacheCreationTokens + t.cacheReadTokens, outputTokens: t.outputTokens, costUsd: costUsd(t, c.price) };
    spent.inputTokens += billed.inputTokens;
    spent.outputTokens += billed.outputTokens;
    spent.costUsd += billed.costUsd;
    emit(c, {
      eventId: event.id, ...billed, latencyMs: r.latencyMs, outcome: answer.kind === 'ok' ? 'ok' : answer.kind === 'refusal' ? 'refusal' : 'invalid_output',
    });
    if (answer.kind === 'ok') return withUsage(fromToolAnswer(answer.answer, r.message.model || c.model));
    if (answer.kind === 'refusal') {
      c.logger.warn({ eventId: event.id }, 'Claude declined to classify the event (refusal): rule-based classification used');
      return fallback('refusal');
    }
    if (turn >= 2) {
      c.logger.warn({ eventId: event.id, problem: answer.problem }, 'Claude answer still invalid after a corrective turn: rule-based classification used');
      return fallback(`invalid-output: ${answer.problem}`);
    }
    c.logger.warn({ eventId: event.id, problem: answer.problem }, 'Claude answer failed validation: asking once more with the errors');
    messages = correctiveTurn(messages, r.message, answer);
  }
}
