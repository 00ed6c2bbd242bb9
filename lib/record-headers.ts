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
  /**
   * Ties together the records of one run, batch or request (a UUID unless the caller gives one). With tracing on it
   * is the trace id of the batch's trace: the UUID's 32 hex digits (lib/tracing.ts traceIdOf).
   */
  correlationId: 'correlation-id',
  /**
   * Only on a record that restates an older one (a dead letter sent back by `dlq redrive`): `<partition>:<offset>` of
   * the record it restates, in the same topic. Stores order the writes of a key by this version (see recordVersion).
   */
  version: 'marketstream-version',
  /**
   * Only on a record derived from a record of another topic (the enricher's graph mutations): `<partition>:<version>`
   * of the record it came from (the market-events record classified or withdrawn; its version as recordVersion gives
   * it). Stores order the writes of a key by this version instead of the record's own offset (see recordVersion).
   */
  sourceVersion: 'marketstream-source-version',
  /** Only with tracing on (lib/tracing.ts): the W3C trace context of the producer's span that sent the record. */
  traceparent: 'traceparent',
} as const;

const headerValue = (h: IHeaders[string]) => (Array.isArray(h) ? String(h[0]) : String(h));
const VERSION_VALUE = /^(\d+):(\d+)$/;

/** The `marketstream-source-version` header of a record derived from the record at `partition` with `version`. */
export function sourceVersionHeader(partition: number, version: number): Record<string, string> {
  return { [RecordHeaders.sourceVersion]: `${partition}:${version}` };
}

/** The version a `marketstream-source-version` header names, or undefined when absent or not `<partition>:<version>`. */
export function sourceVersionOf(headers: IHeaders | undefined): number | undefined {
  const h = headers?.[RecordHeaders.sourceVersion];
  const m = h === undefined ? null : VERSION_VALUE.exec(headerValue(h));
  return m ? Number(m[2]) : undefined;
}

/**
 * The version of a record as the stores order it: its offset in its partition (a key lives in one partition, so its
 * records' offsets are its history in order), unless its `marketstream-version` header names an older record of the
 * same partition that it restates (a redriven dead letter keeps the version of the original, so it never passes a
 * newer record of its key). A header naming another partition (the topic's partition count changed) is ignored.
 * A record derived from another topic's record (`marketstream-source-version`: the enricher's graph mutations) has
 * that record's version, whatever the other header says: the mutations of one event are ordered as its market-events
 * records are, so a stale member re-publishing an older record's mutations never passes the newer record's.
 */
export function recordVersion(offset: string, partition: number, headers: IHeaders | undefined): number {
  const source = sourceVersionOf(headers);
  if (source !== undefined) return source;
  const h = headers?.[RecordHeaders.version];
  if (h !== undefined) {
    const m = VERSION_VALUE.exec(headerValue(h));
    if (m && Number(m[1]) === partition) return Number(m[2]);
  }
  return Number(offset);
}

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
