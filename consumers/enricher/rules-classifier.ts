// Deterministic rule-based classifier: event type from weighted keywords, sentiment from a small lexicon with
// negation, affected companies from the event's symbols plus cashtags, "(NASDAQ: XYZ)" mentions and known
// company names. Used when ANTHROPIC_API_KEY is not set, and as the fallback when Claude cannot answer.
import { COMPANY_NAMES, NEGATIONS, RULES_MODEL, SENTIMENT_WORDS, TYPE_KEYWORDS, TYPE_PRIORITY } from './rules-lexicon.ts';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import { NEUTRAL_BAND, normalizeAffected, round2, type AffectedSymbol, type Classification, type EventToClassify, type EventType,
  type Sentiment } from './types.ts';

export { RULES_MODEL };

export interface RulesOptions {
  /** Extra company name → ticker pairs (added to the built-in list), e.g. from company profiles. */
  companies?: Record<string, string>;
}

export interface RulesClassifier {
  classify(event: EventToClassify): Classification;
}

/** Headline words count double: a headline says what the article is about. */
const HEADLINE_WEIGHT = 2;
/** |score| at or above this is positive/negative; below it, neutral (the neutral band every classifier's answer keeps to). */
const LABEL_THRESHOLD = NEUTRAL_BAND;
const MAX_TEXT = 5000;

interface Term { words: string[]; prefix: boolean; weight: number; text: string }

function compile(entries: Record<string, number>): Term[] {
  return Object.entries(entries).map(([text, weight]) => {
    const prefix = text.endsWith('*');
    return { words: tokenize(prefix ? text.slice(0, -1) : text), prefix, weight, text: prefix ? text.slice(0, -1) : text };
  });
}

const typeTerms = Object.fromEntries(Object.entries(TYPE_KEYWORDS).map(([t, kw]) => [t, compile(kw)])) as Record<Exclude<EventType, 'other'>, Term[]>;
const sentimentTerms = compile(SENTIMENT_WORDS);

export function tokenize(text: string): string[] {
  return text.toLowerCase().replace(/’/g, "'").match(/[a-z0-9]+(?:['&-][a-z0-9]+)*/g) ?? [];
}

/** Positions where `term` starts in `tokens`. */
function positions(tokens: readonly string[], term: Term): number[] {
  const out: number[] = [];
  const n = term.words.length;
  for (let i = 0; i + n <= tokens.length; i++) {
    let ok = true;
    for (let j = 0; j < n && ok; j++) {
      const tok = tokens[i + j]!;
      const w = term.words[j]!;
      ok = term.prefix && j === n - 1 ? tok.startsWith(w) : tok === w;
    }
    if (ok) out.push(i);
  }
  return out;
}

function classifyType(head: string[], body: string[]): { type: EventType; matched: string[] } {
  let best: { type: EventType; score: number; matched: string[] } = { type: 'other', score: 0, matched: [] };
  for (const type of TYPE_PRIORITY) {
    let score = 0;
    const matched: { text: string; w: number }[] = [];
    for (const term of typeTerms[type]) {
      // Each keyword counts once, at its strongest place: repeating a word does not make an article more "earnings".
      const w = positions(head, term).length ? term.weight * HEADLINE_WEIGHT : positions(body, term).length ? term.weight : 0;
      if (w) { score += w; matched.push({ text: term.text, w }); }
    }
    if (score > best.score) best = { type, score, matched: matched.sort((a, b) => b.w - a.w).map((m) => m.text) };
  }
  return { type: best.type, matched: best.matched };
}

function scoreSentiment(head: string[], body: string[]): { score: number; words: string[] } {
  let pos = 0, neg = 0;
  const words: string[] = [];
  for (const [tokens, weight] of [[head, HEADLINE_WEIGHT], [body, 1]] as const) {
    for (const term of sentimentTerms) {
      for (const i of positions(tokens, term)) {
        const negated = [tokens[i - 1], tokens[i - 2]].some((t) => t !== undefined && NEGATIONS.has(t));
        const value = (negated ? -term.weight : term.weight) * weight;
        if (value > 0) pos += value; else neg -= value;
        words.push(negated ? `not ${term.text}` : term.text);
      }
    }
  }
  // (P − N) / (P + N + 1): bounded in (−1, 1), and one weak word cannot reach the extremes.
  return { score: round2((pos - neg) / (pos + neg + 1)), words: [...new Set(words)] };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const CASHTAG = /\$([A-Z][A-Z0-9.-]{0,9})\b/g;
const EXCHANGE_TICKER = /\((?:NASDAQ|NYSE|NYSE American|NYSEARCA|AMEX|OTC|TSX|LSE|Nasdaq|NasdaqGS)\s*:\s*([A-Z][A-Z0-9.-]{0,9})\)/g;

export function createRulesClassifier(opts: RulesOptions = {}): RulesClassifier {
  const names = Object.entries({ ...COMPANY_NAMES, ...opts.companies })
    .map(([name, symbol]) => ({ re: new RegExp(`(?<![\\w&])${escapeRe(name)}(?![\\w&])`), symbol: symbol.toUpperCase() }));

  /** Tickers a text names: cashtags, exchange mentions and company names. */
  function tickersIn(text: string): Set<string> {
    const out = new Set<string>();
    for (const m of text.matchAll(CASHTAG)) out.add(m[1]!);
    for (const m of text.matchAll(EXCHANGE_TICKER)) out.add(m[1]!);
    for (const n of names) if (n.re.test(text)) out.add(n.symbol);
    return new Set([...out].filter((s) => SYMBOL_PATTERN.test(s)));
  }

  /** A listed symbol is "mentioned" by its ticker as a word (2+ letters, to skip "A") or by a name/cashtag. */
  function mentions(text: string, symbol: string, found: Set<string>): boolean {
    if (found.has(symbol)) return true;
    return symbol.length >= 2 && new RegExp(`(?<![\\w$])${escapeRe(symbol)}(?![\\w])`).test(text);
  }

  function affected(event: EventToClassify, headline: string, summary: string): AffectedSymbol[] {
    const inHead = tickersIn(headline);
    const inBody = tickersIn(summary);
    const out: AffectedSymbol[] = [];
    for (const raw of event.symbols) {
      const symbol = raw.trim().toUpperCase();
      if (!SYMBOL_PATTERN.test(symbol)) continue;
      // Named in the headline: the event is about it; only in the summary: involved; only listed by the source: related.
      out.push({ symbol, relevance: mentions(headline, symbol, inHead) ? 0.9 : mentions(summary, symbol, inBody) ? 0.7 : 0.5 });
    }
    for (const symbol of inHead) out.push({ symbol, relevance: 0.8 });
    for (const symbol of inBody) out.push({ symbol, relevance: 0.6 });
    return normalizeAffected(out);
  }

  return {
    classify(event) {
      const headline = event.headline.slice(0, MAX_TEXT);
      const summary = (event.summary ?? '').slice(0, MAX_TEXT);
      const head = tokenize(headline);
      const body = tokenize(summary);
      const { type, matched } = classifyType(head, body);
      const { score, words } = scoreSentiment(head, body);
      const sentiment: Sentiment = score >= LABEL_THRESHOLD ? 'positive' : score <= -LABEL_THRESHOLD ? 'negative' : 'neutral';
      const typePart = type === 'other' ? 'no event-type keyword matched' : `${type} (keywords: ${matched.slice(0, 3).join(', ')})`;
      const tonePart = words.length ? `${sentiment} tone (${words.slice(0, 4).join(', ')})` : `${sentiment} tone (no sentiment words)`;
      return {
        type,
        sentiment,
        sentimentScore: score,
        affected: affected(event, headline, summary),
        rationale: `Rule-based: ${typePart}; ${tonePart}.`,
        classifier: 'rules',
        model: RULES_MODEL,
      };
    },
  };
}

/** The rules' answer marked as a fallback from Claude, with the reason. */
export function asFallback(c: Classification, reason: string): Classification {
  return { ...c, classifier: 'rules', model: RULES_MODEL, fallbackReason: reason };
}
