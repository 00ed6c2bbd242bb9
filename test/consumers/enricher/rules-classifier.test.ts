// The rule-based classifier: the offline product (no ANTHROPIC_API_KEY) and Claude's fallback.
import { describe, expect, it } from 'vitest';
import { createRulesClassifier, RULES_MODEL, tokenize } from '../../../consumers/enricher/rules-classifier.ts';
import { classificationSchema, type EventToClassify } from '../../../consumers/enricher/types.ts';

const rules = createRulesClassifier();
const event = (headline: string, summary: string | null = null, symbols: string[] = []): EventToClassify =>
  ({ id: 'e1', headline, summary, symbols, publishedAt: Date.parse('2026-11-20T14:30:00Z'), source: 'test' });

describe('rules classifier', () => {
  it.each([
    ['Apple beats estimates as quarterly revenue hits a record', 'earnings'],
    ['Microsoft to acquire gaming studio in $2B all-stock deal', 'merger_acquisition'],
    ['Nvidia unveils new AI chip for data centers', 'product'],
    ['FTC opens antitrust probe into Amazon marketplace', 'regulatory'],
    ['Jury orders Apple to pay $300M in patent infringement lawsuit', 'legal'],
    ['Intel CEO steps down; board appoints interim chief executive', 'management'],
    ['Fed holds interest rates steady as inflation cools', 'macro'],
    ['Morgan Stanley downgrades Tesla to underweight, cuts price target', 'analyst_rating'],
    ['What to watch on Wall Street this week', 'other'],
  ])('types %j as %s', (headline, type) => {
    expect(rules.classify(event(headline)).type).toBe(type);
  });

  it('scores clearly positive and clearly negative news with the matching label and sign', () => {
    const up = rules.classify(event('Apple beats estimates, raises guidance as iPhone sales surge to a record'));
    expect(up.sentiment).toBe('positive');
    expect(up.sentimentScore).toBeGreaterThan(0.5);
    const down = rules.classify(event('Tesla shares plunge after recall; analysts warn of weak demand'));
    expect(down.sentiment).toBe('negative');
    expect(down.sentimentScore).toBeLessThan(-0.5);
  });

  it('is neutral without sentiment words, and keeps the score within [-1, 1] however many words match', () => {
    expect(rules.classify(event('Apple to hold its annual shareholder meeting on Tuesday'))).toMatchObject({ sentiment: 'neutral', sentimentScore: 0 });
    const extreme = rules.classify(event('Plunge! Crash! Fraud! Bankruptcy! Losses plunge, shares tumble, slump, sink',
      'Worst losses; fraud, bankruptcy, plunge, crash.'));
    expect(extreme.sentimentScore).toBeGreaterThanOrEqual(-1);
    expect(extreme.sentimentScore).toBeLessThan(-0.9);
  });

  it('flips a sentiment word after a negation', () => {
    const c = rules.classify(event('Alphabet fails to beat revenue estimates'));
    expect(c.sentiment).toBe('negative');
    expect(c.rationale).toContain('not beat');
  });

  it('ranks the source symbols by where they are mentioned and adds companies found in the text', () => {
    const c = rules.classify(event(
      'Apple signs chip supply deal with Broadcom',
      'The agreement also involves $QCOM and Taiwan Semiconductor (NYSE: TSM).',
      ['aapl', 'AVGO', 'MSFT', 'not a ticker!'],
    ));
    const rel = Object.fromEntries(c.affected.map((a) => [a.symbol, a.relevance]));
    expect(rel).toEqual({ AAPL: 0.9, AVGO: 0.9, QCOM: 0.6, TSM: 0.6, MSFT: 0.5 });
    expect(c.affected.map((a) => a.symbol)).toEqual(['AAPL', 'AVGO', 'QCOM', 'TSM', 'MSFT']); // most relevant first
  });

  it('does not take lower-case words or the fruit for a company, and accepts extra names', () => {
    expect(rules.classify(event('Why apple pie prices rose this fall')).affected).toEqual([]);
    const custom = createRulesClassifier({ companies: { Rivian: 'RIVN' } });
    expect(custom.classify(event('Rivian recalls trucks')).affected).toEqual([{ symbol: 'RIVN', relevance: 0.8 }]);
  });

  it('labels its answers as rules with a version, valid against the classification schema, and is deterministic', () => {
    const e = event('Nvidia soars after strong earnings', 'Revenue jumped 94%.', ['NVDA']);
    const c = rules.classify(e);
    expect(c).toMatchObject({ classifier: 'rules', model: RULES_MODEL });
    expect(c.fallbackReason).toBeUndefined();
    expect(classificationSchema.safeParse(c).success).toBe(true);
    expect(c.rationale).toMatch(/^Rule-based: earnings .*\.$/);
    expect(createRulesClassifier().classify(e)).toEqual(c);
  });

  it('handles an empty event', () => {
    const c = rules.classify(event('', null, []));
    expect(c).toMatchObject({ type: 'other', sentiment: 'neutral', sentimentScore: 0, affected: [] });
  });

  it('tokenizes hyphenated words, apostrophes and tickers-like words', () => {
    expect(tokenize("Q3 all-time high didn’t hold; S&P")).toEqual(['q3', 'all-time', 'high', "didn't", 'hold', 's&p']);
  });
});
