// The Claude path against a local server speaking the Messages API: tool answers, validation and the corrective
// turn, retries (429 with retry-after), fallback to the rules on persistent failures and an open circuit,
// the hourly budget (reserved when a request is sent, settled or taken back), refusals, and what is reported per call.
// No PostgreSQL here (see cache.int.test.ts; the budget shared in PostgreSQL: shared-budget.int.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClaudeClassifier, requestEstimate, type ClaudeCall, type ClaudeClassifier,
  type ClaudeClassifierOptions } from '../../../consumers/enricher/claude-classifier.ts';
import type { Budget } from '../../../lib/claude/index.ts';
import { createRulesClassifier, RULES_MODEL } from '../../../consumers/enricher/rules-classifier.ts';
import type { EventToClassify } from '../../../consumers/enricher/types.ts';
import { apiKeyOf, errorResponse, fakeClaudeOptions, startFakeAnthropic, toolUseResponse, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';

const API_KEY = 'sk-ant-test-DO-NOT-LOG-4242';
const event: EventToClassify = {
  id: 'evt-1',
  headline: 'Apple beats estimates as iPhone revenue hits a record',
  summary: 'Apple reported quarterly EPS of $1.65 on revenue of $95B.',
  symbols: ['AAPL'],
  publishedAt: Date.parse('2026-11-20T21:30:00Z'),
  source: 'yahoo',
};
const goodAnswer = {
  type: 'earnings', sentiment: 'positive', sentiment_score: 0.72,
  affected: [{ symbol: 'aapl', relevance: 1 }, { symbol: 'QCOM', relevance: 0.2 }],
  rationale: 'Apple beat revenue and EPS estimates on record iPhone sales.',
};

let fake: FakeAnthropic;
let classifier: ClaudeClassifier | undefined;
let logs: string;
let calls: ClaudeCall[];

function make(overrides: Partial<ClaudeClassifierOptions> = {}): ClaudeClassifier {
  logs = '';
  classifier = createClaudeClassifier({
    ...fakeClaudeOptions(fake, API_KEY, (text) => { logs += text; }), maxRetries: 3, maxConcurrency: 4,
    rules: createRulesClassifier(), onCall: (c) => calls.push(c),
    ...overrides,
  });
  return classifier;
}

beforeEach(async () => { fake = await startFakeAnthropic(); calls = []; });
afterEach(async () => {
  await classifier?.close();
  classifier = undefined;
  await fake.close();
  expect(logs).not.toContain(API_KEY); // the key never reaches a log line, whatever happened
});

describe('Claude classifier', () => {
  it('asks with the forced classify_event tool and maps a valid tool answer to a classification', async () => {
    fake.enqueue(toolUseResponse(goodAnswer, { inputTokens: 812, outputTokens: 96 }));
    const c = await make().classify(event);

    expect(c).toEqual({
      type: 'earnings', sentiment: 'positive', sentimentScore: 0.72,
      affected: [{ symbol: 'AAPL', relevance: 1 }, { symbol: 'QCOM', relevance: 0.2 }],
      rationale: goodAnswer.rationale, classifier: 'claude', model: 'claude-haiku-5-5',
      usage: { inputTokens: 812, outputTokens: 96, costUsd: (812 * 0.1 + 96 * 0.5) / 1e6 }, // kept for the graph's provenance
    });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(apiKeyOf(req)).toBe(API_KEY);
    expect(req.body).toMatchObject({
      model: 'claude-haiku-5-5',
      tool_choice: { type: 'tool', name: 'classify_event' },
      tools: [{ name: 'classify_event', input_schema: { type: 'object',
        required: expect.arrayContaining(['type', 'sentiment', 'sentiment_score', 'affected', 'rationale']) } }],
      messages: [{ role: 'user', content: expect.stringContaining(event.headline) }],
    });
    expect(req.body.tools[0].input_schema.properties.type.enum).toContain('merger_acquisition');
    expect(req.body).not.toHaveProperty('temperature'); // newer models reject sampling parameters
    expect(calls).toEqual([{
      model: 'claude-haiku-5-5', eventId: 'evt-1', inputTokens: 812, outputTokens: 96,
      costUsd: (812 * 0.1 + 96 * 0.5) / 1e6, latencyMs: expect.any(Number), outcome: 'ok',
    }]);
    expect(logs).toContain('"outcome":"ok"');
  });

  it('sends a malformed answer back once with the validation errors, and uses the corrected one', async () => {
    const bad = toolUseResponse({ ...goodAnswer, sentiment_score: 3, affected: [{ symbol: 'Apple Inc.', relevance: 1 }] });
    fake.enqueue(bad, toolUseResponse(goodAnswer));
    const c = await make().classify(event);

    expect(c.classifier).toBe('claude');
    expect(c.fallbackReason).toBeUndefined();
    expect(fake.requests).toHaveLength(2);
    const [user, assistant, correction] = fake.requests[1]!.body.messages;
    expect(user).toEqual(fake.requests[0]!.body.messages[0]);
    const badToolUse = (bad.body as any).content[0];
    expect(assistant).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: badToolUse.id, name: 'classify_event', input: badToolUse.input }] });
    expect(correction.role).toBe('user');
    expect(correction.content[0]).toMatchObject({ type: 'tool_result', tool_use_id: badToolUse.id, is_error: true });
    expect(correction.content[0].content).toMatch(/sentiment_score/);
    expect(correction.content[0].content).toMatch(/affected\.0\.symbol/);
    expect(calls.map((x) => x.outcome)).toEqual(['invalid_output', 'ok']);
  });

  it('falls back to the rules, saying why, when the corrected answer is still invalid', async () => {
    fake.enqueue(
      toolUseResponse({ ...goodAnswer, type: 'gossip' }),
      toolUseResponse({ ...goodAnswer, sentiment: 'negative', sentiment_score: 0.5 }), // label contradicts the score
    );
    const c = await make().classify(event);

    expect(c).toMatchObject({ classifier: 'rules', model: RULES_MODEL, type: 'earnings' });
    expect(c.fallbackReason).toMatch(/^invalid-output: sentiment_score: score 0.5 contradicts sentiment "negative"/);
    expect(fake.requests).toHaveLength(2);
  });

  it('refuses a label whose score lies outside its band (neutral within [-0.2, 0.2], positive above 0, negative below 0)', async () => {
    fake.enqueue(
      toolUseResponse({ ...goodAnswer, sentiment: 'neutral', sentiment_score: 0.9 }),
      toolUseResponse({ ...goodAnswer, sentiment: 'neutral', sentiment_score: -0.35 }),
    );
    const c = await make().classify(event);
    expect(c).toMatchObject({ classifier: 'rules', model: RULES_MODEL });
    expect(c.fallbackReason).toMatch(/^invalid-output: sentiment_score: score -0.35 contradicts sentiment "neutral" \(neutral: -0.2 to 0.2\)/);
    expect(fake.requests).toHaveLength(2);

    for (const [sentiment, score] of [['neutral', 0.2], ['neutral', -0.2], ['positive', 0.05], ['negative', -0.05]] as const) {
      fake.enqueue(toolUseResponse({ ...goodAnswer, sentiment, sentiment_score: score }));
      expect(await make().classify(event), `${sentiment} ${score}`).toMatchObject({ classifier: 'claude', sentiment, sentimentScore: score });
    }
    const zero = toolUseResponse({ ...goodAnswer, sentiment: 'positive', sentiment_score: 0 });
    fake.enqueue(zero, zero);
    expect((await make().classify(event)).fallbackReason).toMatch(/score 0 contradicts sentiment "positive" \(positive: above 0 to 1\)/);
  });

  it('treats an answer without the tool call as malformed too', async () => {
    const text = toolUseResponse(goodAnswer);
    (text.body as any).content = [{ type: 'text', text: 'This looks like earnings news.', citations: null }];
    (text.body as any).stop_reason = 'end_turn';
    fake.enqueue(text, toolUseResponse(goodAnswer));
    expect((await make().classify(event)).classifier).toBe('claude');
    const last = fake.requests[1]!.body.messages;
    expect(last[1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'This looks like earnings news.' }] });
    expect(last[2].content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('no classify_event tool call') });
  });

  it('waits for retry-after on a 429, then succeeds', async () => {
    fake.enqueue(
      errorResponse(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { 'retry-after': '1' }),
      toolUseResponse(goodAnswer),
    );
    const c = await make().classify(event);

    expect(c.classifier).toBe('claude');
    expect(fake.requests).toHaveLength(2);
    expect(calls.map((x) => x.outcome)).toEqual(['rate_limited', 'ok']);
    expect(calls[0]).toMatchObject({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(logs).toMatch(/"retryAfterMs":1000.*honouring retry-after/);
  });

  it('falls back to the rules on a persistent 500, then stops calling while the circuit is open', async () => {
    fake.setDefault(errorResponse(500, 'api_error', 'Internal server error'));
    const cl = make({ maxRetries: 2, failureThreshold: 3 });

    const first = await cl.classify(event);
    expect(first).toMatchObject({ classifier: 'rules', model: RULES_MODEL, fallbackReason: 'api-error: 500 api_error: Internal server error' });
    expect(fake.requests).toHaveLength(3); // 1 + 2 retries

    const second = await cl.classify({ ...event, id: 'evt-2' });
    expect(second.classifier).toBe('rules');
    expect(second.fallbackReason).toMatch(/^api-error: circuit open/);
    expect(fake.requests).toHaveLength(3); // no request while open
    expect(logs).toContain('circuit open');
  });

  it('does not retry a request the API rejects (4xx) and falls back at once', async () => {
    fake.setDefault(errorResponse(401, 'authentication_error', 'invalid x-api-key'));
    const c = await make().classify(event);
    expect(c).toMatchObject({ classifier: 'rules', fallbackReason: 'api-error: 401 authentication_error: invalid x-api-key' });
    expect(fake.requests).toHaveLength(1);
    expect(calls.map((x) => x.outcome)).toEqual(['client_error']);
  });

  it('uses the rules once the hourly token budget is spent, and Claude again when the hour has passed', async () => {
    let clock = Date.parse('2026-11-26T10:00:00Z');
    fake.setDefault(() => toolUseResponse(goodAnswer, { inputTokens: 3000, outputTokens: 100 }));
    const cl = make({ budget: { tokensPerHour: 5000, costUsdPerHour: 0 }, now: () => clock });

    expect((await cl.classify(event)).classifier).toBe('claude'); // 3,100 tokens spent
    const second = await cl.classify({ ...event, id: 'evt-2' }); // the next call's estimate does not fit
    expect(second).toMatchObject({ classifier: 'rules', model: RULES_MODEL, fallbackReason: 'budget' });
    expect(fake.requests).toHaveLength(1);
    expect(logs).toContain('Claude hourly budget reached');

    clock += 3_600_001;
    expect((await cl.classify({ ...event, id: 'evt-3' })).classifier).toBe('claude');
    expect(logs).toContain('Claude hourly budget available again');
  });

  it('uses the rules when the hourly cost budget cannot pay for a call', async () => {
    const c = await make({ budget: { tokensPerHour: 0, costUsdPerHour: 0.0000001 } }).classify(event);
    expect(c).toMatchObject({ classifier: 'rules', fallbackReason: 'budget' });
    expect(fake.requests).toHaveLength(0);
  });

  it('falls back on a refusal without asking again', async () => {
    const refusal = toolUseResponse(goodAnswer);
    Object.assign(refusal.body as object, { content: [], stop_reason: 'refusal' });
    fake.enqueue(refusal);
    const c = await make().classify(event);
    expect(c).toMatchObject({ classifier: 'rules', fallbackReason: 'refusal' });
    expect(fake.requests).toHaveLength(1);
    expect(calls.map((x) => x.outcome)).toEqual(['refusal']);
  });

  it('drops the thinking parameter for the process when the model rejects it', async () => {
    fake.setDefault((req) => (req.body.thinking
      ? errorResponse(400, 'invalid_request_error', 'thinking.type: "disabled" is not supported for this model')
      : toolUseResponse(goodAnswer)));
    const cl = make();
    expect((await cl.classify(event)).classifier).toBe('claude');
    expect((await cl.classify({ ...event, id: 'evt-2' })).classifier).toBe('claude');
    expect(fake.requests.map((r) => 'thinking' in r.body)).toEqual([true, false, false]);
  });

  it('keeps at most CLAUDE_MAX_CONCURRENCY requests in flight', async () => {
    fake.setDefault(() => ({ ...toolUseResponse(goodAnswer), delayMs: 150 }));
    const cl = make({ maxConcurrency: 2 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => cl.classify({ ...event, id: `evt-${i}` })));
    expect(results.every((r) => r.classifier === 'claude')).toBe(true);
    expect(fake.requests).toHaveLength(6);
    expect(fake.peakConcurrency).toBeLessThanOrEqual(2);
  });

  it('reserves the budget when a request is sent, not while calls wait for a concurrency slot', async () => {
    fake.setDefault(() => ({ ...toolUseResponse(goodAnswer, { inputTokens: 10, outputTokens: 10 }), delayMs: 20 }));
    const est = requestEstimate(event);
    // Room for one request's estimate plus what the six really use: queued calls must not hold reservations.
    const cl = make({ maxConcurrency: 1, budget: { tokensPerHour: est.inputTokens + est.outputTokens + 6 * 20, costUsdPerHour: 0 } });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => cl.classify({ ...event, id: `evt-${i}` })));
    expect(results.map((r) => r.classifier)).toEqual(Array(6).fill('claude'));
    expect(fake.requests).toHaveLength(6);
  });

  it('settles the real usage of an answered request and takes back the estimate of a refused one', async () => {
    const log: string[] = [];
    const store: Budget = {
      limits: { tokensPerHour: 0, costUsdPerHour: 0 }, where: 'test',
      async tryReserve(tokens) {
        log.push(`reserve ${tokens}`);
        return { settle: async (t) => { log.push(`settle ${t}`); }, release: async () => { log.push('release'); } };
      },
      usage: async () => ({ tokens: 0, costUsd: 0, oldestExpiresAt: null }),
    };
    fake.enqueue(errorResponse(500, 'api_error', 'Internal server error'), toolUseResponse(goodAnswer, { inputTokens: 700, outputTokens: 80 }));
    expect((await make({ budgetStore: store }).classify(event)).classifier).toBe('claude');
    const est = requestEstimate(event);
    expect(log).toEqual([`reserve ${est.inputTokens + est.outputTokens}`, 'release', `reserve ${est.inputTokens + est.outputTokens}`, 'settle 780']);
  });

  it('does not answer with the rules when the budget cannot be read: the error reaches the caller, nothing is sent', async () => {
    const down = Object.assign(new Error('PostgreSQL unavailable'), { retriable: true });
    const store: Budget = {
      limits: { tokensPerHour: 1000, costUsdPerHour: 0 }, where: 'test',
      tryReserve: async () => { throw down; },
      usage: async () => { throw down; },
    };
    fake.setDefault(() => toolUseResponse(goodAnswer));
    await expect(make({ budgetStore: store }).classify(event)).rejects.toBe(down);
    expect(fake.requests).toHaveLength(0);
  });
});
