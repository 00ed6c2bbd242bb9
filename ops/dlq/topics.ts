// Which DLQ topics the `dlq` commands look at, and the few facts every one of them reads from a dead letter's headers.
import type { Config } from '../../lib/config.ts';
import { DlqHeaders } from '../../lib/dlq.ts';
import { configuredTopics } from '../../topics/index.ts';

/** The group name used for dead letters that a producer rejected before publishing (no `consumer-group` header). */
export const PRODUCER_GROUP = 'producer';

/** `price-updates.dlq` as is; a main topic (`price-updates`) names its DLQ. */
export function dlqTopicName(name: string): string {
  return name.endsWith('.dlq') ? name : `${name}.dlq`;
}

/** The DLQ of every configured topic. */
export function configuredDlqTopics(config: Config): string[] {
  return configuredTopics(config).map((t) => t.dlq);
}

/** The group that gave up on the record, or `producer`. */
export function sourceGroup(headers: Record<string, string>): string {
  return headers[DlqHeaders.consumerGroup] || PRODUCER_GROUP;
}

/** When the record was dead-lettered (epoch ms): its `failed-at` header, else its Kafka timestamp. */
export function failedAtMs(headers: Record<string, string>, timestamp: string | number): number {
  const t = Date.parse(headers[DlqHeaders.failedAt] ?? '');
  return Number.isNaN(t) ? Number(timestamp) : t;
}

/** The `error-class` header, or `unknown` when absent. */
export function errorClassOf(headers: Record<string, string>): string {
  return headers[DlqHeaders.errorClass] || 'unknown';
}
