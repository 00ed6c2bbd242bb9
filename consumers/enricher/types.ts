// The enricher's contracts: the event to classify, the classification it produces, and the zod schema that
// validates Claude's `classify_event` tool answer (types, ranges, symbol format) before anything uses it.
import { z } from 'zod';
import type { MarketEvent } from '../../schemas/types.generated.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';

export const EVENT_TYPES = ['earnings', 'merger_acquisition', 'product', 'regulatory', 'legal', 'management', 'macro', 'analyst_rating', 'other'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const SENTIMENTS = ['positive', 'negative', 'neutral'] as const;
export type Sentiment = (typeof SENTIMENTS)[number];

/**
 * The scores each sentiment label allows (a label and its score must agree): neutral within [-NEUTRAL_BAND,
 * NEUTRAL_BAND], positive above 0, negative below 0. The bands overlap near 0 (a mildly positive event may be called
 * positive at 0.1 or neutral at 0.1), but a neutral 0.9 or a positive 0 is a malformed answer. The rule-based
 * classifier labels by the same band: |score| below NEUTRAL_BAND is neutral, so its answers always agree.
 */
export const NEUTRAL_BAND = 0.2;
const SENTIMENT_BAND: Record<Sentiment, { ok: (score: number) => boolean; text: string }> = {
  neutral: { ok: (x) => x >= -NEUTRAL_BAND && x <= NEUTRAL_BAND, text: `-${NEUTRAL_BAND} to ${NEUTRAL_BAND}` },
  positive: { ok: (x) => x > 0, text: 'above 0 to 1' },
  negative: { ok: (x) => x < 0, text: '-1 to below 0' },
};

/** Why `score` contradicts `sentiment` (outside its band), or null. */
export function sentimentProblem(sentiment: Sentiment, score: number): string | null {
  const band = SENTIMENT_BAND[sentiment];
  return band.ok(score) ? null : `score ${score} contradicts sentiment "${sentiment}" (${sentiment}: ${band.text})`;
}


/** Most affected companies kept per event. */
export const MAX_AFFECTED = 10;

export interface EventToClassify {
  id: string;
  headline: string;
  summary: string | null;
  /** Tickers the source says the event mentions. */
  symbols: string[];
  /** Published time, epoch ms. */
  publishedAt: number;
  source: string;
}

/** What the classifier sees of a market event. */
export function toClassify(e: MarketEvent): EventToClassify {
  return { id: e.id, headline: e.headline, summary: e.summary ?? null, symbols: e.symbols, publishedAt: e.publishedAt, source: e.source };
}

export interface AffectedSymbol {
  symbol: string;
  /** 0..1: how much the event is about this company. */
  relevance: number;
}

export interface Classification {
  type: EventType;
  sentiment: Sentiment;
  /** -1 (very negative) .. 1 (very positive). */
  sentimentScore: number;
  affected: AffectedSymbol[];
  /** One sentence saying why. */
  rationale: string;
  /** Who produced it: Claude, or the rule-based classifier (offline, or as a fallback). */
  classifier: 'claude' | 'rules';
  /** Claude model id, or the rules version (`rules-v1`). */
  model: string | null;
  /** Set when the rules answered although Claude was configured: 'budget', 'api-error: …', 'invalid-output: …', 'refusal'. */
  fallbackReason?: string;
  /** What classifying cost: tokens billed and USD over its Claude requests (a corrective turn included); absent for the rules alone. */
  usage?: ClassificationUsage;
  /** When it was classified, epoch ms (set when first cached; absent on rows cached before it was recorded). */
  classifiedAt?: number;
}

export interface ClassificationUsage { inputTokens: number; outputTokens: number; costUsd: number }

const symbol = z.string().trim().toUpperCase().regex(SYMBOL_PATTERN, 'expected a ticker symbol (A-Z, 0-9, . ^ = -; at most 15 characters)');

/** Claude's tool input. snake_case, as tool schemas usually are; mapped to a Classification by `fromToolAnswer`. */
export const toolAnswerSchema = z.object({
  type: z.enum(EVENT_TYPES).describe('What kind of event this is; "other" when none fits'),
  sentiment: z.enum(SENTIMENTS).describe('Tone of the event for shareholders of the affected companies'),
  sentiment_score: z.number().min(-1).max(1)
    .describe(`-1 very negative … 0 neutral … 1 very positive; positive above 0, negative below 0, neutral within ±${NEUTRAL_BAND}`),
  affected: z.array(z.object({
    symbol: symbol.describe('Ticker symbol of an affected listed company, e.g. AAPL'),
    relevance: z.number().min(0).max(1).describe('0..1, how central the company is to the event'),
  })).max(MAX_AFFECTED).describe(`Listed companies the event affects, most relevant first (at most ${MAX_AFFECTED})`),
  rationale: z.string().trim().min(1).max(300).describe('One sentence explaining the classification'),
}).superRefine((v, ctx) => {
  // A label that contradicts the score is a malformed answer, not a judgement call.
  const problem = sentimentProblem(v.sentiment, v.sentiment_score);
  if (problem) ctx.addIssue({ code: 'custom', path: ['sentiment_score'], message: problem });
});
export type ToolAnswer = z.output<typeof toolAnswerSchema>;

/** JSON schema of the tool input, generated from the zod schema so the two never disagree. */
export function toolInputJsonSchema(): { type: 'object'; [k: string]: unknown } {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(toolAnswerSchema) as Record<string, unknown>;
  return { ...schema, type: 'object' };
}

/** Merges duplicate symbols (highest relevance wins) and sorts by relevance, highest first. */
export function normalizeAffected(list: readonly AffectedSymbol[]): AffectedSymbol[] {
  const best = new Map<string, number>();
  for (const a of list) best.set(a.symbol, Math.max(best.get(a.symbol) ?? 0, a.relevance));
  return [...best].map(([s, relevance]) => ({ symbol: s, relevance: round2(relevance) }))
    .sort((a, b) => b.relevance - a.relevance || a.symbol.localeCompare(b.symbol))
    .slice(0, MAX_AFFECTED);
}

export function fromToolAnswer(answer: ToolAnswer, model: string): Classification {
  return {
    type: answer.type,
    sentiment: answer.sentiment,
    sentimentScore: round2(answer.sentiment_score),
    affected: normalizeAffected(answer.affected),
    rationale: answer.rationale,
    classifier: 'claude',
    model,
  };
}

/** A stored classification (cache rows are checked with it before use). */
export const classificationSchema = z.object({
  type: z.enum(EVENT_TYPES),
  sentiment: z.enum(SENTIMENTS),
  sentimentScore: z.number().min(-1).max(1),
  affected: z.array(z.object({ symbol: z.string().regex(SYMBOL_PATTERN), relevance: z.number().min(0).max(1) })),
  rationale: z.string(),
  classifier: z.enum(['claude', 'rules']),
  model: z.string().nullable(),
  fallbackReason: z.string().optional(),
  usage: z.object({ inputTokens: z.number().int().min(0), outputTokens: z.number().int().min(0), costUsd: z.number().min(0) }).optional(),
  classifiedAt: z.number().int().positive().optional(),
});

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
