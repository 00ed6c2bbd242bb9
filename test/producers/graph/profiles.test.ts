// The bundled sample profiles, the offline same-industry peers, and the mutations built from profiles and competitor
// answers: every one passes the sink's whitelist, nodes come before relationships, a missing field removes the property.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../lib/config.ts';
import { competitorMutations, profiledCompetitors, profileMutations, signature } from '../../../producers/graph/build.ts';
import { industryPeers, PEER_CONFIDENCE } from '../../../producers/graph/competitors.ts';
import { createFileProfileSource, loadProfilesFile, SAMPLE_PROFILES_FILE } from '../../../producers/graph/profiles.ts';
import { validateGraphMutation } from '../../../topics/graph-model.ts';
import { graphMutationKey } from '../../../topics/index.ts';

const T = Date.UTC(2026, 5, 1);

describe('sample profiles', () => {
  it('cover the default symbols, are labelled as sample data, and have peers for the offline fallback', async () => {
    const file = await loadProfilesFile(SAMPLE_PROFILES_FILE);
    expect(file.sample).toBe(true);
    expect(file.description).toMatch(/SAMPLE DATA/);
    const source = createFileProfileSource();
    expect(source.origin).toBe('sample');
    const { profiles, missing } = await source.profiles(loadConfig({}).SYMBOLS);
    expect(missing).toEqual([]);
    expect(profiles.every((p) => p.name && p.sector && p.industry && p.exchange)).toBe(true);
    const known = await source.known();
    for (const p of profiles) expect(industryPeers(p, known).competitors.length, p.symbol).toBeGreaterThan(0);
  });
});

describe('industryPeers', () => {
  it('lists same-industry companies only, at the peer confidence', async () => {
    const known = await createFileProfileSource().known();
    const nvda = known.find((p) => p.symbol === 'NVDA')!;
    const a = industryPeers(nvda, known);
    expect(a.source).toBe('profile-industry');
    expect(a.competitors.map((c) => c.symbol)).toEqual(['AMD', 'AVGO', 'INTC']);
    expect(a.competitors.every((c) => c.confidence === PEER_CONFIDENCE)).toBe(true);
    expect(industryPeers({ ...nvda, industry: null }, known).competitors).toEqual([]);
  });
});

describe('graph mutations from profiles and competitors', () => {
  it('are valid, keyed by entity, nodes before relationships', () => {
    const ms = profileMutations([
      { symbol: 'AAPL', name: 'Apple Inc.', sector: 'Technology', industry: 'Consumer Electronics', exchange: 'NasdaqGS' },
      { symbol: 'XYZ', name: null, sector: null, industry: null, exchange: null },
    ], 'sample', T);
    expect(ms.map(graphMutationKey)).toEqual([
      'Company:AAPL', 'Company:XYZ', 'Sector:Technology', 'Industry:Consumer Electronics',
      'IN_SECTOR:AAPL:Technology', 'IN_INDUSTRY:AAPL:Consumer Electronics',
    ]);
    expect(ms[1]!.op).toEqual({ UpsertNode: { label: 'Company', key: 'XYZ',
      properties: { name: null, sector: null, industry: null, exchange: null, profile_source: 'sample' } } });
    const comp = competitorMutations('NVDA',
      { source: 'claude', model: 'claude-haiku-5-5', competitors: [{ symbol: 'AMD', name: 'AMD', confidence: 0.9 }] }, T);
    expect(comp[0]!.op).toEqual({ UpsertRelationship: {
      type: 'COMPETES_WITH', from: { label: 'Company', key: 'NVDA' }, to: { label: 'Company', key: 'AMD' },
      properties: { source: 'claude', confidence: 0.9, updated_at: new Date(T).toISOString(), model: 'claude-haiku-5-5' },
    } });
    for (const m of [...ms, ...comp]) expect(validateGraphMutation(m, T)).toBeNull();
  });

  it('signatures ignore the time, not the content', () => {
    const a = competitorMutations('NVDA', { source: 'claude', model: 'm', competitors: [{ symbol: 'AMD', name: null, confidence: 0.9 }] }, T)[0]!;
    const later = competitorMutations('NVDA',
      { source: 'claude', model: 'm', competitors: [{ symbol: 'AMD', name: null, confidence: 0.9 }] }, T + 3_600_000)[0]!;
    const changed = competitorMutations('NVDA', { source: 'claude', model: 'm', competitors: [{ symbol: 'AMD', name: null, confidence: 0.8 }] }, T)[0]!;
    expect(signature(later)).toBe(signature(a));
    expect(signature(changed)).not.toBe(signature(a));
  });

  it('a competitor without a profile is dropped: Company nodes come from profiles, never from a model answer', () => {
    const answer = { source: 'claude' as const, model: 'm', competitors: [
      { symbol: 'AMD', name: 'AMD', confidence: 0.9 }, { symbol: 'HALLU', name: 'Made Up', confidence: 0.8 }] };
    const { answer: kept, dropped } = profiledCompetitors(answer, new Set(['NVDA', 'AMD']));
    expect(dropped).toEqual(['HALLU']);
    expect(kept).toEqual({ ...answer, competitors: [answer.competitors[0]] });
    expect(competitorMutations('NVDA', kept, T).map(graphMutationKey)).toEqual(['COMPETES_WITH:NVDA:AMD']);
  });
});
