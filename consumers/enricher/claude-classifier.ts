// Classification by Claude: one Messages API request with the forced `classify_event` tool, its answer
// validated with zod (one corrective turn when malformed), behind a concurrency limit, retries with backoff
// and jitter (retry-after honoured), a circuit breaker and an hourly token/cost budget. Whenever Claude cannot
// give a valid answer the rule-based classifier answers instead, and the result says why (`fallbackReason`).
import type Anthropic from '@anthropic-ai/sdk';
import { costUsd, createClaudeClient, describeApiError, tokensOf, type CallOutcome, type ClaudeClientOptions } from '../../lib/claude/index.ts';
import { CircuitOpenError } from '../../lib/errors.ts';
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

function correctiveTurn(messages: Anthropic.MessageParam[], message: Anthropic.Message, answer: Extract<Answer, { kind: 'invalid' }>): Anthropic.MessageParam[] {
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

export function createClaudeClassifier(o: ClaudeClassifierOptions): ClaudeClassifier {
  const { logger, rules, model } = o;
  const now = o.now ?? Date.now;
  const maxRetryAfterMs = o.maxRetryAfterMs ?? 60_000;
  const { client, price, budget, resilience, params, relaxShape } = createClaudeClient('claude', o, {
    onStateChange: (state) => {
      if (state === 'open') logger.warn({ model }, 'Claude keeps failing (circuit open): the rule-based classifier answers until a trial call succeeds');
      if (state === 'closed') logger.info({ model }, 'Claude answers again (circuit closed)');
    },
  });
  // After a 429/529 with retry-after, no request starts before this time (shared by all concurrent calls).
  let notBefore = 0;
  let budgetBlocked = false;

  const emit = (call: Omit<ClaudeCall, 'model'>) => {
    const full = { model, ...call };
    logger.info(full, `claude call ${call.outcome}`);
    try { o.onCall?.(full); } catch (err) { logger.warn({ err }, 'onCall hook failed (ignored)'); }
  };

  /** One request (re-sent at once after a shape relaxation). Failed requests are reported, then rethrown for the retry policy. */
  async function request(messages: Anthropic.MessageParam[], eventId: string): Promise<{ message: Anthropic.Message; latencyMs: number }> {
    for (;;) {
      const wait = notBefore - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const started = performance.now();
      try {
        const message = await client.messages.create(params({ system: SYSTEM_PROMPT, tool: CLASSIFY_TOOL, maxTokens: MAX_OUTPUT_TOKENS, messages }));
        return { message, latencyMs: Math.round(performance.now() - started) };
      } catch (err) {
        const f = describeApiError(err);
        emit({ eventId, inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs: Math.round(performance.now() - started), outcome: f.outcome });
        if (relaxShape(err)) continue;
        if (f.retriable && f.retryAfterMs !== null) {
          const ms = Math.min(f.retryAfterMs, maxRetryAfterMs);
          notBefore = Math.max(notBefore, now() + ms);
          logger.warn({ eventId, status: f.status, retryAfterMs: ms }, 'Claude asked to slow down: honouring retry-after before the next request');
        }
        throw err;
      }
    }
  }

  /** One logical call: budget reservation, then the request under limiter, breaker and retries. */
  async function call(messages: Anthropic.MessageParam[], event: EventToClassify): Promise<CallResult> {
    const estIn = estimateInputTokens(JSON.stringify(messages));
    const reservation = budget.tryReserve(estIn + MAX_OUTPUT_TOKENS, costUsd({ ...tokensOf(undefined), inputTokens: estIn, outputTokens: MAX_OUTPUT_TOKENS }, price));
    if (!reservation) {
      if (!budgetBlocked) {
        budgetBlocked = true;
        const u = budget.usage();
        logger.warn({
          tokensLastHour: u.tokens, tokenBudget: o.budget.tokensPerHour, costUsdLastHour: Number(u.costUsd.toFixed(4)), costBudgetUsd: o.budget.costUsdPerHour,
          freesUpAt: u.oldestExpiresAt ? new Date(u.oldestExpiresAt).toISOString() : null,
        }, 'Claude hourly budget reached: the rule-based classifier answers until spending in the last hour falls under the budget');
      }
      return { kind: 'fallback', reason: 'budget' };
    }
    if (budgetBlocked) {
      budgetBlocked = false;
      logger.info({ model }, 'Claude hourly budget available again: classifying with Claude');
    }
    try {
      const r = await resilience.run(() => request(messages, event.id), TOOL_NAME);
      const t = tokensOf(r.message.usage);
      reservation.settle(t.inputTokens + t.cacheCreationTokens + t.cacheReadTokens + t.outputTokens, costUsd(t, price));
      return { kind: 'message', ...r };
    } catch (err) {
      reservation.release();
      const f = describeApiError(err);
      const reason = `api-error: ${f.text}`;
      if (err instanceof CircuitOpenError) logger.debug({ eventId: event.id }, 'Claude circuit open: rule-based classification');
      else logger.warn({ eventId: event.id, reason }, 'Claude call failed: rule-based classification used for this event');
      return { kind: 'fallback', reason };
    }
  }

  return {
    async classify(event) {
      let messages: Anthropic.MessageParam[] = [{ role: 'user', content: renderEvent(event) }];
      for (let turn = 1; ; turn++) {
        const r = await call(messages, event);
        if (r.kind === 'fallback') return asFallback(rules.classify(event), r.reason);
        const answer = readAnswer(r.message);
        const t = tokensOf(r.message.usage);
        emit({
          eventId: event.id, inputTokens: t.inputTokens + t.cacheCreationTokens + t.cacheReadTokens, outputTokens: t.outputTokens,
          costUsd: costUsd(t, price), latencyMs: r.latencyMs, outcome: answer.kind === 'ok' ? 'ok' : answer.kind === 'refusal' ? 'refusal' : 'invalid_output',
        });
        if (answer.kind === 'ok') return fromToolAnswer(answer.answer, r.message.model || model);
        if (answer.kind === 'refusal') {
          logger.warn({ eventId: event.id }, 'Claude declined to classify the event (refusal): rule-based classification used');
          return asFallback(rules.classify(event), 'refusal');
        }
        if (turn >= 2) {
          logger.warn({ eventId: event.id, problem: answer.problem }, 'Claude answer still invalid after a corrective turn: rule-based classification used');
          return asFallback(rules.classify(event), `invalid-output: ${answer.problem}`);
        }
        logger.warn({ eventId: event.id, problem: answer.problem }, 'Claude answer failed validation: asking once more with the errors');
        messages = correctiveTurn(messages, r.message, answer);
      }
    },
    close: () => resilience.shutdown(),
  };
}
