// Which companies an enriched event may be linked to in the graph: the ones it names, and the ones the graph already
// holds (a Company node). A ticker that only Claude (or a cashtag the rules found) brought up never creates a Company
// node. The cached classification keeps the full answer; only what is published is limited. Used by the enricher and
// by `enrich reclassify`, so both publish the same graph facts.
import type { Logger } from '../../lib/logger.ts';
import { classifyNeo4jError, type Driver } from '../../lib/stores/neo4j.ts';
import type { EnrichedEvent } from '../postgres/market-events.ts';

export async function linkToKnownCompanies(
  graph: () => Driver, database: string | undefined, batch: readonly EnrichedEvent[], logger: Logger,
): Promise<EnrichedEvent[]> {
  const unnamed = [...new Set(batch.flatMap((x) => x.classification.affected.map((a) => a.symbol).filter((s) => !x.event.symbols.includes(s))))];
  let known = new Set<string>();
  if (unnamed.length) {
    const { records } = await graph().executeQuery('MATCH (c:Company) WHERE c.symbol IN $symbols RETURN c.symbol AS symbol', { symbols: unnamed }, { database })
      .catch((err: unknown) => { throw classifyNeo4jError(err); });
    known = new Set(records.map((r) => r.get('symbol') as string));
  }
  return batch.map((x) => {
    const keep = x.classification.affected.filter((a) => x.event.symbols.includes(a.symbol) || known.has(a.symbol));
    if (keep.length < x.classification.affected.length) {
      const dropped = x.classification.affected.filter((a) => !keep.includes(a)).map((a) => a.symbol);
      logger.info({ eventId: x.event.id, dropped }, 'not linking the event to companies it does not name and the graph does not hold');
    }
    return { ...x, classification: { ...x.classification, affected: keep } };
  });
}
