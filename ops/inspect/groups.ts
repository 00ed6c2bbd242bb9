// `inspect groups`: each consumer group's state and members (with their assigned partitions), and per partition the
// committed offset, the end of the log, the lag and the lag in seconds (the age of the oldest unconsumed record, read
// with a RecordPeek). By default the groups under KAFKA_GROUP_PREFIX.
import kafkajs, { type Admin } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { groupLag, maxLagSeconds, withLagSeconds, type PartitionLagSeconds } from '../../lib/lag.ts';
import type { RecordPeek } from '../../lib/records.ts';
import { resolveGroup } from '../groups.ts';
import { defaultTopicNames } from './topics.ts';

const { AssignerProtocol } = kafkajs; // CommonJS export, not a named ESM export

export interface GroupMemberView {
  memberId: string;
  clientId: string;
  host: string;
  /** topic → partitions assigned to this member. */
  assignment: Record<string, number[]>;
}

export interface GroupView {
  groupId: string;
  /** Stable, Empty, PreparingRebalance, CompletingRebalance, Dead. */
  state: string;
  members: GroupMemberView[];
  /** Partitions of the topics the group has committed offsets on or is assigned. */
  partitions: PartitionLagSeconds[];
  totalLag: number;
  /** The age of the group's oldest unconsumed record, seconds: 0 when caught up, null when unknown (no peek given, or unread). */
  lagSeconds: number | null;
}

/**
 * Describes groups: `names` (sink names or group ids), or with `all` every consumer group, or by default those named
 * `<KAFKA_GROUP_PREFIX>.…`. Kafka cannot list the topics an idle group committed on, so the topics looked at are the
 * members' assignments, the configured topics (and DLQs), the sink's own topics, and `topics`.
 */
export async function inspectGroups(admin: Admin, config: Config,
  o: { names?: readonly string[]; all?: boolean; topics?: readonly string[]; peek?: RecordPeek; now?: () => number } = {}): Promise<GroupView[]> {
  const resolved = o.names?.length ? o.names.map((n) => resolveGroup(config, n)) : null;
  const ids = resolved
    ? resolved.map((r) => r.groupId)
    : (await admin.listGroups()).groups
      .filter((g) => g.protocolType === 'consumer' && (o.all || g.groupId.startsWith(`${config.KAFKA_GROUP_PREFIX}.`)))
      .map((g) => g.groupId).sort();
  if (!ids.length) return [];
  const present = new Set(await admin.listTopics());
  const { groups } = await admin.describeGroups(ids);
  const out: GroupView[] = [];
  for (const id of ids) {
    const g = groups.find((x) => x.groupId === id);
    const members: GroupMemberView[] = (g?.members ?? []).map((m) => {
      const decoded = m.memberAssignment?.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
      const assignment = Object.fromEntries(Object.entries(decoded?.assignment ?? {}).map(([t, ps]) => [t, [...ps].sort((a, b) => a - b)]));
      return { memberId: m.memberId, clientId: m.clientId, host: m.clientHost, assignment };
    });
    const candidates = new Set([
      ...members.flatMap((m) => Object.keys(m.assignment)),
      ...defaultTopicNames(config),
      ...(resolved?.find((r) => r.groupId === id)?.topics ?? []),
      ...(o.topics ?? []),
    ].filter((t) => present.has(t)));
    const assigned = new Set(members.flatMap((m) => Object.keys(m.assignment)));
    const lags = candidates.size ? await groupLag(admin, id, [...candidates]) : [];
    // Keep the topics the group actually reads: committed on, or assigned to a member.
    const used = new Set(lags.filter((l) => l.committed !== null).map((l) => l.topic));
    const counted = lags.filter((l) => used.has(l.topic) || assigned.has(l.topic) || o.topics?.includes(l.topic))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    const partitions = await withLagSeconds(o.peek, counted, (o.now ?? Date.now)());
    out.push({ groupId: id, state: g?.state ?? 'Dead', members, partitions, totalLag: partitions.reduce((n, p) => n + p.lag, 0),
      lagSeconds: maxLagSeconds(partitions) });
  }
  return out;
}
