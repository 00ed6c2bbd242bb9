// What the graph producer publishes, as pure functions: a company profile → Company node (name, sector, industry,
// exchange, profile_source) + Sector/Industry nodes + IN_SECTOR/IN_INDUSTRY; a competitor answer → COMPETES_WITH
// {source, confidence, updated_at, model}. A null profile field is sent as null, which removes the property.
import type { GraphMutation, PropertyValue } from '../../schemas/types.generated.ts';
import { upsertNode, upsertRelationship, type MutationMeta } from '../../topics/graph-model.ts';
import type { CompetitorAnswer } from './competitors.ts';
import type { CompanyProfile, ProfileOrigin } from './profiles.ts';

export function companyNode(p: CompanyProfile, origin: ProfileOrigin, time: number): GraphMutation {
  const props: Record<string, PropertyValue> = { name: p.name, sector: p.sector, industry: p.industry, exchange: p.exchange, profile_source: origin };
  return upsertNode('Company', p.symbol, props, { origin: 'profile', time });
}

/** Nodes first (companies, sectors, industries), then their relationships, so a reader of the topic sees nodes before edges. */
export function profileMutations(profiles: readonly CompanyProfile[], origin: ProfileOrigin, time: number): GraphMutation[] {
  const meta: MutationMeta = { origin: 'profile', time };
  const sectors = [...new Set(profiles.flatMap((p) => (p.sector ? [p.sector] : [])))].sort();
  const industries = [...new Set(profiles.flatMap((p) => (p.industry ? [p.industry] : [])))].sort();
  return [
    ...profiles.map((p) => companyNode(p, origin, time)),
    ...sectors.map((s) => upsertNode('Sector', s, {}, meta)),
    ...industries.map((i) => upsertNode('Industry', i, {}, meta)),
    ...profiles.flatMap((p) => (p.sector ? [upsertRelationship('IN_SECTOR', p.symbol, p.sector, {}, meta)] : [])),
    ...profiles.flatMap((p) => (p.industry ? [upsertRelationship('IN_INDUSTRY', p.symbol, p.industry, {}, meta)] : [])),
  ];
}

export function competitorMutations(symbol: string, answer: CompetitorAnswer, time: number): GraphMutation[] {
  const updatedAt = new Date(time).toISOString();
  return answer.competitors.map((c) => upsertRelationship('COMPETES_WITH', symbol, c.symbol, {
    source: answer.source, confidence: c.confidence, updated_at: updatedAt, model: answer.model,
  }, { origin: 'competitors', time }));
}

/** What a mutation changes, without its time and time stamps: equal signatures = nothing new to publish. */
export function signature(m: GraphMutation): string {
  return JSON.stringify(m.op, (k, v: unknown) => (k === 'updated_at' || k === 'computed_at' ? undefined : typeof v === 'bigint' ? `${v}n` : v));
}

/**
 * The answer without the competitors that have no profile (`profiled`: the symbols the profile source knows): a
 * COMPETES_WITH upsert creates its end nodes, and a Company node comes only from a profile, never from a model's answer
 * (which may name a ticker that does not exist, or that a company description steered it to).
 */
export function profiledCompetitors(answer: CompetitorAnswer, profiled: ReadonlySet<string>): { answer: CompetitorAnswer; dropped: string[] } {
  const dropped = answer.competitors.filter((c) => !profiled.has(c.symbol)).map((c) => c.symbol);
  return { answer: dropped.length ? { ...answer, competitors: answer.competitors.filter((c) => profiled.has(c.symbol)) } : answer, dropped };
}
