// Which companies an enriched event may be linked to in the graph: the ones its source lists (the event's tickers),
// and the ones the graph already holds (a Company node) that the event's own text names, by ticker or company name.
// A ticker that only Claude (or a cashtag the rules found) brought up never creates a Company node, and a model
// answer alone (which a headline may have steered) links nothing. Text carrying prompt-like markup (`</headline>`,
// `<tickers>`) names nothing: a real headline has no tags. The cached classification keeps the full answer; only
// what is published is limited. Used by the enricher and by `enrich reclassify`, so both publish the same graph facts.
import type { Logger } from '../../lib/logger.ts';
import { classifyNeo4jError, type Driver } from '../../lib/stores/neo4j.ts';
import type { EnrichedEvent } from '../postgres/market-events.ts';

export interface KnownCompany {
  symbol: string;
  /** The Company node's name (from its profile), when it has one. */
  name: string | null;
}

/** A tag (`<x>`, `</x>`, `<x a="1"/>`): comparison signs (`< 5000`) are not markup. */
const MARKUP = /<\/?[A-Za-z_][^<>]*>/;
const LEGAL_SUFFIX = /(?:,?\s+(?:inc|incorporated|corp|corporation|co|company|ltd|limited|plc|llc|lp|sa|ag|nv|se|holdings?|group|class\s+[a-c]))\.?$/i;
const MIN_NAME_CHARS = 3;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The name as prose writes it: without the legal suffix ("Apple Inc." → "Apple"); null when too short to look for. */
export function companyNameStem(name: string): string | null {
  let stem = name.trim();
  for (let before = ''; before !== stem;) { before = stem; stem = stem.replace(LEGAL_SUFFIX, '').trim(); }
  stem = stem.replace(/^the\s+/i, '');
  return stem.length >= MIN_NAME_CHARS ? stem : null;
}

/** Whether `text` names the company: its ticker as a whole token (a one-letter ticker only as a cashtag) or its name. */
export function textNamesCompany(text: string, c: KnownCompany): boolean {
  if (MARKUP.test(text)) return false;
  const ticker = escapeRegExp(c.symbol);
  const tickerPattern = c.symbol.length > 1 ? `(?<![A-Za-z0-9.^=-])\\$?${ticker}` : `(?<![A-Za-z0-9])\\$${ticker}`;
  if (new RegExp(`${tickerPattern}(?![A-Za-z0-9]|[-.^=][A-Za-z0-9])`).test(text)) return true;
  const stem = c.name ? companyNameStem(c.name) : null;
  return stem !== null && new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(stem)}(?![\\p{L}\\p{N}])`, 'iu').test(text);
}

export async function linkToKnownCompanies(
  graph: () => Driver, database: string | undefined, batch: readonly EnrichedEvent[], logger: Logger,
): Promise<EnrichedEvent[]> {
  const unnamed = [...new Set(batch.flatMap((x) => x.classification.affected.map((a) => a.symbol).filter((s) => !x.event.symbols.includes(s))))];
  const known = new Map<string, KnownCompany>();
  if (unnamed.length) {
    const { records } = await graph().executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols RETURN c.symbol AS symbol, c.name AS name',
      { symbols: unnamed }, { database }).catch((err: unknown) => { throw classifyNeo4jError(err); });
    for (const r of records) {
      const name = r.get('name') as unknown;
      known.set(r.get('symbol') as string, { symbol: r.get('symbol') as string, name: typeof name === 'string' ? name : null });
    }
  }
  return batch.map((x) => {
    const text = `${x.event.headline}\n${x.event.summary ?? ''}`;
    const keep = x.classification.affected.filter((a) => {
      if (x.event.symbols.includes(a.symbol)) return true;
      const company = known.get(a.symbol);
      return company !== undefined && textNamesCompany(text, company);
    });
    if (keep.length < x.classification.affected.length) {
      const dropped = x.classification.affected.filter((a) => !keep.includes(a)).map((a) => a.symbol);
      logger.info({ eventId: x.event.id, dropped, markup: MARKUP.test(text) },
        'not linking the event to companies its source does not list and its text does not name');
    }
    return { ...x, classification: { ...x.classification, affected: keep } };
  });
}
