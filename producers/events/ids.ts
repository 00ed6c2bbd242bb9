// Stable market-event ids: the same article always gets the same id, so duplicates collapse downstream
// (Kafka key, PostgreSQL primary key, the enricher's cache, the MarketEvent node). sha256 hex, first 32 chars (128 bits).
import { createHash } from 'node:crypto';

/** Query parameters that only track the reader; dropping them keeps one id per article. */
const TRACKING = /^(utm_|guccounter|guce_|ncid$|soc_src$|soc_trk$|cmpid$|fbclid$|gclid$|mc_cid$|mc_eid$|\.tsrc$|src$)/i;

/** The URL without fragment, tracking parameters, default port or trailing slash; the host lower case. Unparseable: trimmed as is. */
export function canonicalUrl(url: string): string {
  let u: URL;
  try { u = new URL(url.trim()); } catch { return url.trim(); }
  u.hash = '';
  for (const key of [...u.searchParams.keys()]) if (TRACKING.test(key)) u.searchParams.delete(key);
  u.searchParams.sort();
  const path = u.pathname.length > 1 ? u.pathname.replace(/\/+$/, '') : u.pathname;
  const query = u.searchParams.toString();
  return `${u.protocol}//${u.host.toLowerCase()}${path}${query ? `?${query}` : ''}`;
}

/**
 * The id of an event: a hash of the source plus the source's own id for the article when it has one (Yahoo's uuid),
 * else plus its canonical URL. `source` names the feed or publisher (`yahoo`, `Reuters`), lower-cased.
 */
export function eventId(source: string, ref: { sourceId: string } | { url: string }): string {
  const part = 'sourceId' in ref ? `id:${ref.sourceId.trim()}` : `url:${canonicalUrl(ref.url)}`;
  return createHash('sha256').update(`${source.trim().toLowerCase()}\n${part}`).digest('hex').slice(0, 32);
}
