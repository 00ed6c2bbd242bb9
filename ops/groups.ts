// Consumer groups as operations see them: a name given on the command line (a sink name such as `postgres`, or a full
// group id) resolved to a group id and the topics it reads, and the guard that refuses to move offsets under live members.
import type { Admin } from 'kafkajs';
import { groupIdOf, isSinkName, sinks, type SinkName } from '../consumers/registry.ts';
import type { SinkTopics } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import { GroupActiveError } from '../lib/errors.ts';
import { priceUpdatesOf } from '../topics/index.ts';

export interface ResolvedGroup {
  groupId: string;
  /** The sink behind the group, when the name or the id names one. */
  sink: SinkName | null;
  /** Topics the sink reads (as configured, or as overridden); empty for a group that is not a sink. */
  topics: string[];
}

/** The topics a sink's group reads, from its handlers (no I/O: sinks are built without connecting). */
export function sinkTopicNames(config: Config, sink: SinkName, topics?: SinkTopics): string[] {
  return sinks[sink].create(config, { topics: topics ?? { prices: priceUpdatesOf(config) } }).handlers.map((h) => h.topic.name);
}

/**
 * `postgres`, `postgres-sink` and `<KAFKA_GROUP_PREFIX>.postgres-sink` all name the postgres sink's group; anything else
 * is taken as a group id as is.
 */
export function resolveGroup(config: Config, name: string, topics?: SinkTopics): ResolvedGroup {
  const bySink = (sink: SinkName): ResolvedGroup => ({ groupId: groupIdOf(config, sink), sink, topics: sinkTopicNames(config, sink, topics) });
  if (isSinkName(name)) return bySink(name);
  for (const sink of Object.keys(sinks) as SinkName[]) {
    if (name === sinks[sink].name || name === groupIdOf(config, sink)) return bySink(sink);
  }
  return { groupId: name, sink: null, topics: [] };
}

export interface GroupState { state: string; members: number }

export async function groupState(admin: Admin, groupId: string): Promise<GroupState> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  return { state: g?.state ?? 'Dead', members: g?.members.length ?? 0 };
}

/** Throws GroupActiveError while the group has members. */
export async function assertGroupStopped(admin: Admin, groupId: string): Promise<void> {
  const { state, members } = await groupState(admin, groupId);
  if (members > 0) throw new GroupActiveError(groupId, state, members);
}
