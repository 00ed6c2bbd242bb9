// Record header conventions: the headers every record carries (the DLQ's own are ./dlq.ts).
// Header values are UTF-8 strings; times are ISO 8601 (UTC). Documented in schemas/README.md.
import { randomUUID } from 'node:crypto';
import type { IHeaders } from 'kafkajs';

/** On every record. */
export const RecordHeaders = {
  /** Who produced the record: a source (yahoo, synthetic, file, backfill) or a component (enricher, correlation). */
  source: 'source',
  /** When the producer sent it, ISO 8601. */
  producedAt: 'produced-at',
  /** Ties together the records of one run, batch or request (a UUID unless the caller gives one). */
  correlationId: 'correlation-id',
} as const;

/** The headers of a freshly produced record. */
export function standardHeaders(meta: { source: string; correlationId?: string }, now = new Date()): Record<string, string> {
  return {
    [RecordHeaders.source]: meta.source,
    [RecordHeaders.producedAt]: now.toISOString(),
    [RecordHeaders.correlationId]: meta.correlationId ?? randomUUID(),
  };
}

/** kafkajs headers as a string map (repeated headers joined with `,`). */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
  }
  return out;
}
