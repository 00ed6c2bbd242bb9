// The headers a dead-letter record adds to the ones every record carries (./record-headers.ts).
// Header values are UTF-8 strings; times are ISO 8601 (UTC). Documented in schemas/README.md.
import { randomUUID } from 'node:crypto';
import { errorClass, errorMessage } from './errors.ts';
import { RecordHeaders } from './record-headers.ts';

/** Added on a dead-letter record (`<topic>.dlq`), next to the original record's own headers. */
export const DlqHeaders = {
  /** Error class name: DecodeError, ValidationError, … */
  errorClass: 'error-class',
  /** The error's message, cut to MAX_ERROR_MESSAGE characters. */
  errorMessage: 'error-message',
  originalTopic: 'original-topic',
  originalPartition: 'original-partition',
  originalOffset: 'original-offset',
  /** The original record's Kafka timestamp, ISO 8601 (absent when a producer dead-lettered it before publishing). */
  originalTimestamp: 'original-timestamp',
  /** Consumer group that gave up on the record (absent when a producer dead-lettered it before publishing). */
  consumerGroup: 'consumer-group',
  /** When it was dead-lettered, ISO 8601. */
  failedAt: 'failed-at',
  /** Size and SHA-256 (hex) of an original value too large for the DLQ topic, which was dropped (null value). */
  originalValueBytes: 'original-value-bytes',
  originalValueSha256: 'original-value-sha256',
  /**
   * When the record was still too large without its value: its own headers are dropped (the DLQ's are kept), and this
   * says how many bytes they had; then, if the key alone is too large, it is dropped too (null key) and its size and
   * SHA-256 (hex) kept instead. A dead letter always fits, so it never blocks its partition.
   */
  originalHeadersBytes: 'original-headers-bytes',
  originalKeyBytes: 'original-key-bytes',
  originalKeySha256: 'original-key-sha256',
  /** Times `dlq redrive` sent the record back to its original topic. */
  redriveCount: 'redrive-count',
} as const;

export const MAX_ERROR_MESSAGE = 2000;

export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
  group?: string;
  /** The record's Kafka timestamp (epoch ms), as kafkajs reads it. */
  timestamp?: string;
}

/**
 * Headers of a dead-letter record: the original headers kept as they were (so its source, produced-at and correlation id
 * survive), the standard ones filled in if the original lacked them, plus the failure and where the record came from.
 */
export function dlqHeaders(a: {
  error: unknown;
  /** Topic the record was meant for or read from. */
  topic: string;
  origin?: RecordOrigin;
  original?: Record<string, string>;
  now?: Date;
}): Record<string, string> {
  const now = a.now ?? new Date();
  const h: Record<string, string> = {
    [RecordHeaders.source]: a.origin?.group ?? 'unknown',
    [RecordHeaders.producedAt]: now.toISOString(),
    [RecordHeaders.correlationId]: randomUUID(),
    ...a.original,
    [DlqHeaders.errorClass]: errorClass(a.error),
    [DlqHeaders.errorMessage]: errorMessage(a.error).slice(0, MAX_ERROR_MESSAGE),
    [DlqHeaders.originalTopic]: a.origin?.topic ?? a.topic,
    [DlqHeaders.failedAt]: now.toISOString(),
  };
  if (a.origin) {
    h[DlqHeaders.originalPartition] = String(a.origin.partition);
    h[DlqHeaders.originalOffset] = a.origin.offset;
    const t = Number(a.origin.timestamp);
    if (a.origin.timestamp !== undefined && Number.isFinite(t) && t >= 0) h[DlqHeaders.originalTimestamp] = new Date(t).toISOString();
    if (a.origin.group) h[DlqHeaders.consumerGroup] = a.origin.group;
  }
  return h;
}
