// The graph producer: every interval (GRAPH_POLL_MINUTES, hourly by default) it reads the company profiles of the
// followed symbols, asks for their competitors, and publishes graph-mutations: Company/Sector/Industry nodes,
// IN_SECTOR/IN_INDUSTRY and COMPETES_WITH upserts, and deletes for what this process published before and no longer
// holds (a competitor dropped, a company that changed sector).
//
// - Claude's competitor answer for a company is reused for GRAPH_COMPETITORS_REFRESH_HOURS; a fallback answer (peers)
//   is never cached, and never replaces a Claude answer this process already has.
// - Competitors get a profile too when the profile source knows them (a file: always; Yahoo: requested at most once
//   per refresh period).
// - The first run of a process publishes everything; later runs only what changed (mutations are compared without
//   their times), so an idle hour adds nothing to the log. Every mutation of one run shares its mutation time.
import { randomUUID } from 'node:crypto';
import type { GraphMutation } from '../schemas/types.generated.ts';
import { deleteRelationship, entityKey, entityOf } from '../topics/graph-model.ts';
import { graphMutations } from '../topics/index.ts';
import { competitorMutations, profiledCompetitors, profileMutations, signature } from './graph/build.ts';
import type { CompetitorAnswer, CompetitorFinder } from './graph/competitors.ts';
import type { CompanyProfile, ProfileSource } from './graph/profiles.ts';
import { createGraphJobLoop, type PeriodicGraphJobOptions, type Periodic } from './periodic.ts';

export interface GraphProducerOptions extends PeriodicGraphJobOptions {
  profiles: ProfileSource;
  competitors: CompetitorFinder;
  /** Extra profiles the peer fallback may pick from (e.g. the sample file while profiles come from Yahoo). */
  peerProfiles?: ProfileSource;
  /** Followed symbols (default config SYMBOLS). */
  symbols?: readonly string[];
  /** How long a Claude answer is reused (default GRAPH_COMPETITORS_REFRESH_HOURS). */
  refreshMs?: number;
}

export interface GraphRunResult {
  profiles: number;
  /** Followed symbols without a profile. */
  missing: string[];
  /** Per followed symbol: who answered the competitor question. */
  competitors: Record<string, CompetitorAnswer['source']>;
  published: number;
  deletes: number;
  /** Competitors left out because the profile source has no profile of them (a Company node comes only from a profile). */
  droppedCompetitors: number;
}

export interface GraphProducer extends Periodic {
  runOnce(now?: number): Promise<GraphRunResult>;
}

export function createGraphProducer(o: GraphProducerOptions): GraphProducer {
  const symbols = o.symbols ?? o.config.SYMBOLS;
  const topic = o.topic ?? graphMutations;
  const clock = o.clock ?? Date.now;
  const refreshMs = o.refreshMs ?? o.config.GRAPH_COMPETITORS_REFRESH_HOURS * 3_600_000;
  const logger = o.logger.child({ component: 'graph-producer', profileSource: o.profiles.origin, topic: topic.name });
  const claudeAnswers = new Map<string, { answer: CompetitorAnswer; at: number }>();
  const profiledAt = new Map<string, number>(); // competitors whose profile was requested, and when
  const lastSignature = new Map<string, string>(); // entity key → what this process last published for it
  const competitorsOf = new Map<string, Set<string>>(); // followed symbol → competitors last published
  const placeOf = new Map<string, { sector: string | null; industry: string | null }>();
  const profiled = new Set<string>(); // symbols whose profile this process published

  async function answerFor(company: CompanyProfile, universe: readonly CompanyProfile[], now: number): Promise<CompetitorAnswer> {
    const cached = claudeAnswers.get(company.symbol);
    if (cached && now - cached.at < refreshMs) return cached.answer;
    const answer = await o.competitors.find(company, universe);
    if (answer.source === 'claude') claudeAnswers.set(company.symbol, { answer, at: now });
    else if (cached) {
      logger.info({ symbol: company.symbol, reason: answer.fallbackReason }, 'keeping the earlier Claude competitor answer (Claude could not answer now)');
      return cached.answer;
    }
    return answer;
  }

  async function runOnce(now = clock()): Promise<GraphRunResult> {
    const correlationId = randomUUID();
    const followed = await o.profiles.profiles(symbols);
    const universe = new Map<string, CompanyProfile>();
    for (const p of [...(await o.peerProfiles?.known()) ?? [], ...(await o.profiles.known()), ...followed.profiles]) universe.set(p.symbol, p);

    const answers = new Map<string, CompetitorAnswer>();
    for (const company of followed.profiles) answers.set(company.symbol, await answerFor(company, [...universe.values()], now));

    // Profiles of the competitors (not followed) that the source has, requested at most once per refresh period.
    const followedSet = new Set(symbols);
    const named = [...new Set([...answers.values()].flatMap((a) => a.competitors.map((c) => c.symbol)))]
      .filter((s) => !followedSet.has(s) && now - (profiledAt.get(s) ?? -Infinity) >= refreshMs);
    const extra = named.length ? await o.profiles.profiles(named) : { profiles: [], missing: [] };
    for (const s of named) profiledAt.set(s, now);

    const profiles = [...followed.profiles, ...extra.profiles];
    for (const p of [...profiles, ...(await o.profiles.known())]) profiled.add(p.symbol);
    let droppedCompetitors = 0;
    for (const [symbol, full] of answers) {
      const { answer, dropped } = profiledCompetitors(full, profiled);
      if (!dropped.length) continue;
      droppedCompetitors += dropped.length;
      logger.warn({ symbol, dropped, source: full.source }, 'competitors without a profile left out (a Company node comes only from a profile)');
      answers.set(symbol, answer);
    }
    const upserts = [...profileMutations(profiles, o.profiles.origin, now)];
    const deletes: GraphMutation[] = [];
    for (const p of profiles) {
      const before = placeOf.get(p.symbol);
      if (before?.sector && before.sector !== p.sector) {
        deletes.push(deleteRelationship('IN_SECTOR', p.symbol, before.sector, { origin: 'profile', time: now }));
      }
      if (before?.industry && before.industry !== p.industry) {
        deletes.push(deleteRelationship('IN_INDUSTRY', p.symbol, before.industry, { origin: 'profile', time: now }));
      }
    }
    for (const [symbol, answer] of answers) {
      upserts.push(...competitorMutations(symbol, answer, now));
      const current = new Set(answer.competitors.map((c) => c.symbol));
      for (const gone of competitorsOf.get(symbol) ?? []) {
        if (!current.has(gone)) deletes.push(deleteRelationship('COMPETES_WITH', symbol, gone, { origin: 'competitors', time: now }));
      }
    }

    const changed = [...upserts, ...deletes].filter((m) => lastSignature.get(entityKey(entityOf(m))) !== signature(m));
    await o.publisher.send(topic, changed, { source: 'graph-producer', correlationId });
    // Remembered only once published: a failed send is retried in full next run.
    for (const m of changed) lastSignature.set(entityKey(entityOf(m)), signature(m));
    for (const p of profiles) placeOf.set(p.symbol, { sector: p.sector, industry: p.industry });
    for (const [symbol, answer] of answers) competitorsOf.set(symbol, new Set(answer.competitors.map((c) => c.symbol)));

    const result: GraphRunResult = {
      profiles: profiles.length,
      missing: followed.missing,
      competitors: Object.fromEntries([...answers].map(([s, a]) => [s, a.source])),
      published: changed.length,
      deletes: changed.filter((m) => 'DeleteRelationship' in m.op).length,
      droppedCompetitors,
    };
    logger.info({ ...result, correlationId }, 'graph run');
    if (followed.missing.length) logger.warn({ missing: followed.missing }, 'no profile for some followed symbols');
    return result;
  }

  return createGraphJobLoop('graph producer', o, o.config.GRAPH_POLL_MINUTES * 60_000, logger, runOnce);
}
