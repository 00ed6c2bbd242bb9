// Random names for test topics, groups, subjects and keys, so tests never share state.
import { randomUUID } from 'node:crypto';

/** `<prefix>-<12 hex chars>`; valid as a Kafka topic/group name, a registry subject and a Redis key part. */
export function randomName(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}
