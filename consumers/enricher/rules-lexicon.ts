// Word lists of the rule-based classifier (rules-v1): keywords per event type, a small financial sentiment
// lexicon, negations, and well-known company names → tickers. Changing them changes results: bump RULES_MODEL.
import type { EventType } from './types.ts';

/** Version recorded as `model` on every rules classification; bump it when these lists or the scoring change. */
export const RULES_MODEL = 'rules-v1';

/**
 * Keywords (lower case; a trailing `*` matches any word ending) with a weight per event type.
 * Matched on whole words; phrases match consecutive words.
 */
export const TYPE_KEYWORDS: Record<Exclude<EventType, 'other'>, Record<string, number>> = {
  earnings: {
    earnings: 3, 'quarterly results': 3, 'quarterly profit': 3, 'quarterly revenue': 3, eps: 3, 'per share': 2,
    revenue: 2, revenues: 2, 'net income': 2, profit: 1, profits: 1, guidance: 2, outlook: 1, 'fiscal year': 1,
    q1: 2, q2: 2, q3: 2, q4: 2, quarter: 1, 'full-year': 1, 'annual results': 3, dividend: 1, estimates: 1, 'earnings call': 3,
  },
  merger_acquisition: {
    acquire: 3, acquires: 3, acquired: 3, acquiring: 3, acquisition: 3, acquisitions: 2, merger: 3, merge: 3, merges: 3,
    takeover: 3, buyout: 3, 'tender offer': 3, 'to buy': 2, 'deal to buy': 3, 'agrees to buy': 3, 'bid for': 2,
    'stake in': 2, divest: 2, divests: 2, divestiture: 3, 'spin off': 2, spinoff: 2, 'spin-off': 2, 'all-stock deal': 3,
  },
  product: {
    launch: 2, launches: 3, launched: 2, unveil: 3, unveils: 3, unveiled: 3, introduces: 2, 'new product': 3,
    release: 1, releases: 1, rollout: 2, 'rolls out': 2, debut: 2, debuts: 2, chip: 1, chips: 1, iphone: 2,
    device: 1, smartphone: 1, model: 1, software: 1, 'product line': 2, 'ai model': 2, shipments: 1, preorders: 2,
  },
  regulatory: {
    regulator: 3, regulators: 3, regulatory: 3, sec: 2, ftc: 3, fda: 3, fcc: 2, antitrust: 3, 'european commission': 3,
    approval: 2, approves: 2, approved: 1, clearance: 2, probe: 2, investigation: 1, compliance: 2, sanctions: 2,
    ban: 2, bans: 2, banned: 2, license: 1, 'export controls': 3, 'export curbs': 3, 'competition authority': 3,
  },
  legal: {
    lawsuit: 3, lawsuits: 3, sues: 3, sued: 3, suing: 3, court: 2, judge: 2, jury: 3, verdict: 3, settlement: 2,
    settles: 2, litigation: 3, 'class action': 3, 'class-action': 3, infringement: 3, plaintiff: 3, plaintiffs: 3,
    ruling: 2, appeal: 2, indictment: 3, indicted: 3, 'pleads guilty': 3, prosecutors: 3, damages: 1,
  },
  management: {
    ceo: 2, cfo: 2, coo: 2, 'chief executive': 3, 'chief financial officer': 3, executive: 1, executives: 1,
    resigns: 3, resignation: 3, 'steps down': 3, 'step down': 3, appoints: 3, appointed: 3, names: 1, hires: 2,
    board: 1, chairman: 2, succession: 3, founder: 1, layoffs: 2, 'job cuts': 2, restructuring: 2, ousted: 3,
  },
  macro: {
    fed: 3, 'federal reserve': 3, 'interest rate': 3, 'interest rates': 3, 'rate cut': 3, 'rate hike': 3,
    inflation: 3, cpi: 3, gdp: 3, 'jobs report': 3, payrolls: 3, unemployment: 2, recession: 3, 'treasury yields': 3,
    tariff: 2, tariffs: 2, 'trade war': 3, economy: 2, economic: 1, 'central bank': 3, 'oil prices': 2, 'consumer spending': 2,
  },
  analyst_rating: {
    upgrade: 3, upgrades: 3, upgraded: 3, downgrade: 3, downgrades: 3, downgraded: 3, 'price target': 3,
    analyst: 2, analysts: 1, rating: 2, overweight: 3, underweight: 3, outperform: 3, underperform: 3,
    'buy rating': 3, 'sell rating': 3, 'initiates coverage': 3, 'initiated coverage': 3, reiterates: 2, 'equal-weight': 3,
  },
};

/** When two types score the same, the more specific one (earlier here) wins. */
export const TYPE_PRIORITY: readonly Exclude<EventType, 'other'>[] = [
  'analyst_rating', 'merger_acquisition', 'earnings', 'legal', 'regulatory', 'management', 'product', 'macro',
];

/** Sentiment lexicon: a word's polarity weight (positive > 0). A trailing `*` matches any ending. */
export const SENTIMENT_WORDS: Record<string, number> = {
  // positive
  beat: 1, beats: 1, surpass: 1, 'surpass*': 1, exceed: 1, exceeds: 1, exceeded: 1, tops: 1, topped: 1, record: 1,
  soar: 1.5, soars: 1.5, soared: 1.5, surge: 1.5, surges: 1.5, surged: 1.5, jump: 1, jumps: 1, jumped: 1,
  rally: 1, rallies: 1, rallied: 1, gain: 0.5, gains: 0.5, gained: 0.5, rise: 0.5, rises: 0.5, rose: 0.5,
  climb: 0.5, climbs: 0.5, climbed: 0.5, upgrade: 1, upgrades: 1, upgraded: 1, outperform: 1, strong: 1,
  stronger: 1, robust: 1, growth: 0.5, boost: 1, boosts: 1, boosted: 1, raises: 1, raised: 0.5, approve: 1,
  approves: 1, approved: 1, approval: 1, win: 1, wins: 1, won: 1, expands: 0.5, breakthrough: 1.5, bullish: 1.5,
  optimistic: 1, upbeat: 1, buyback: 1, profitable: 1, 'all-time high': 1.5, higher: 0.5, best: 0.5, overweight: 1,
  // negative
  miss: -1, misses: -1, missed: -1, fall: -1, falls: -1, fell: -1, drop: -1, drops: -1, dropped: -1,
  plunge: -1.5, plunges: -1.5, plunged: -1.5, slump: -1.5, slumps: -1.5, slumped: -1.5, sink: -1, sinks: -1, sank: -1,
  tumble: -1.5, tumbles: -1.5, tumbled: -1.5, decline: -1, declines: -1, declined: -1, loss: -1, losses: -1,
  downgrade: -1, downgrades: -1, downgraded: -1, underperform: -1, underweight: -1, weak: -1, weaker: -1, cut: -0.5, cuts: -1,
  lowers: -1, lowered: -1, warn: -1, warns: -1, warning: -1, lawsuit: -1, sues: -1, sued: -1, probe: -1,
  investigation: -0.5, fined: -1, fine: -0.5, recall: -1, recalls: -1, layoffs: -1, bankruptcy: -2, bankrupt: -2,
  fraud: -2, delay: -1, delays: -1, delayed: -1, halt: -1, halts: -1, halted: -1, ban: -1, banned: -1, bearish: -1.5,
  concern: -0.5, concerns: -0.5, worst: -1, resigns: -0.5, crash: -1.5, slowdown: -1, shortage: -1,
  disappointing: -1.5, disappoints: -1.5, 'lower*': -0.5, ousted: -1, indicted: -1.5, recession: -1,
};

/** Words that flip the polarity of a sentiment word up to two words after them. */
export const NEGATIONS = new Set(['not', 'no', 'never', 'without', "didn't", "doesn't", "don't", "won't", 'fails', 'failed', 'fail']);

/**
 * Well-known company names → ticker (matched case-sensitively on whole words, so "apple pie" is no Apple).
 * The caller can add more (e.g. names from the company profiles) through the `companies` option.
 */
export const COMPANY_NAMES: Record<string, string> = {
  Apple: 'AAPL', Microsoft: 'MSFT', Alphabet: 'GOOGL', Google: 'GOOGL', Tesla: 'TSLA', Nvidia: 'NVDA', NVIDIA: 'NVDA',
  Amazon: 'AMZN', Meta: 'META', Facebook: 'META', Netflix: 'NFLX', Intel: 'INTC', AMD: 'AMD', 'Advanced Micro Devices': 'AMD',
  Broadcom: 'AVGO', Oracle: 'ORCL', Salesforce: 'CRM', IBM: 'IBM', Qualcomm: 'QCOM', JPMorgan: 'JPM', 'JPMorgan Chase': 'JPM',
  'Goldman Sachs': 'GS', 'Morgan Stanley': 'MS', 'Berkshire Hathaway': 'BRK-B', Walmart: 'WMT', Disney: 'DIS', Boeing: 'BA',
  'Exxon Mobil': 'XOM', ExxonMobil: 'XOM', Chevron: 'CVX', Pfizer: 'PFE', 'Johnson & Johnson': 'JNJ', 'Eli Lilly': 'LLY',
  'Coca-Cola': 'KO', PepsiCo: 'PEP', Mastercard: 'MA', Uber: 'UBER', Adobe: 'ADBE', Palantir: 'PLTR', Micron: 'MU',
  'Taiwan Semiconductor': 'TSM', TSMC: 'TSM', Costco: 'COST', Starbucks: 'SBUX', "McDonald's": 'MCD', Nike: 'NKE',
};
