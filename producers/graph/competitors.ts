// Competitors and peers of a company, for COMPETES_WITH: Claude's analysis when ANTHROPIC_API_KEY is set
// (claude-competitors.ts), otherwise — and whenever Claude cannot answer (budget, errors, invalid output) — an honest
// offline stand-in: companies of the same industry among the known profiles, at a lower confidence, labelled
// `profile-industry` so nobody mistakes it for an analysis.
import { z } from 'zod';
import { SYMBOL_PATTERN } from '../../topics/rules.ts';
import type { CompanyProfile } from './profiles.ts';

/** Most competitors kept per company. */
export const MAX_COMPETITORS = 8;
/** Confidence of a same-industry peer: sharing an industry says little about competing. */
export const PEER_CONFIDENCE = 0.4;

export type CompetitorSource = 'claude' | 'profile-industry';

export interface Competitor {
  symbol: string;
  name: string | null;
  /** 0..1: how sure the source is that the two compete. */
  confidence: number;
}

export interface CompetitorAnswer {
  competitors: Competitor[];
  source: CompetitorSource;
  /** Claude model id; null for profile-industry. */
  model: string | null;
  /** Set when the fallback answered although Claude was configured: 'budget', 'api-error: …', 'invalid-output: …', 'refusal'. */
  fallbackReason?: string;
}

export interface CompetitorFinder {
  readonly primary: CompetitorSource;
  /** Competitors of `company`; `universe` are the profiles the producer knows (the fallback picks peers from them). */
  find(company: CompanyProfile, universe: readonly CompanyProfile[]): Promise<CompetitorAnswer>;
  close(): Promise<void>;
}

const symbol = z.string().trim().toUpperCase().regex(SYMBOL_PATTERN, 'expected a ticker symbol (A-Z, 0-9, . ^ = -; at most 15 characters)');

/** Claude's `record_competitors` tool input, validated before use. */
export const competitorsAnswerSchema = z.object({
  competitors: z.array(z.object({
    symbol: symbol.describe('Ticker symbol of a listed competitor, e.g. MSFT (primary US listing when there is one)'),
    name: z.string().trim().min(1).max(200).describe('Company name'),
    confidence: z.number().min(0).max(1).describe('0..1: 1 = head-to-head in the core business, about 0.5 = overlapping in one segment, ' +
      'below 0.3 = loosely related'),
  })).max(MAX_COMPETITORS * 2).describe(`Listed competitors and close peers, strongest first (at most ${MAX_COMPETITORS})`),
});
export type CompetitorsToolAnswer = z.output<typeof competitorsAnswerSchema>;

/** Drops the company itself, merges duplicates (highest confidence wins), strongest first, at most MAX_COMPETITORS. */
export function normalizeCompetitors(self: string, list: readonly Competitor[]): Competitor[] {
  const best = new Map<string, Competitor>();
  for (const c of list) {
    if (c.symbol === self) continue;
    const seen = best.get(c.symbol);
    if (!seen || c.confidence > seen.confidence) best.set(c.symbol, { ...c, confidence: Math.round(c.confidence * 100) / 100 });
  }
  return [...best.values()].sort((a, b) => b.confidence - a.confidence || a.symbol.localeCompare(b.symbol)).slice(0, MAX_COMPETITORS);
}

/** Same-industry companies among `universe` (the offline stand-in for an analysis). */
export function industryPeers(company: CompanyProfile, universe: readonly CompanyProfile[]): CompetitorAnswer {
  const peers = company.industry === null ? [] : universe
    .filter((p) => p.symbol !== company.symbol && p.industry === company.industry)
    .map((p) => ({ symbol: p.symbol, name: p.name, confidence: PEER_CONFIDENCE }));
  return { competitors: normalizeCompetitors(company.symbol, peers), source: 'profile-industry', model: null };
}

export function createPeerFinder(): CompetitorFinder {
  return {
    primary: 'profile-industry',
    find: async (company, universe) => industryPeers(company, universe),
    close: async () => {},
  };
}
