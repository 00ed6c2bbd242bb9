// Consumer groups as operations see them: a name given on the command line (a sink name such as `postgres`, or a full
// group id) resolved to a group id and the topics it reads; the guard that refuses to move offsets under live members;
// and holdGroup, which makes the caller the group's only partition owner for as long as it needs (see there).
import { randomUUID } from 'node:crypto';
import { AssignerProtocol, type Admin, type Assigner, type Kafka, type PartitionAssigner } from 'kafkajs';
import { configuredSinkTopics, groupIdOf, isSinkName, sinks, type SinkName } from '../consumers/catalog.ts';
import type { SinkTopics } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import { errorMessage, GroupActiveError, GroupHoldLostError } from '../lib/errors.ts';
import type { Logger } from '../lib/logger.ts';
import { groupState, joinIdle, type GroupState } from '../lib/records.ts';

export interface ResolvedGroup {
  groupId: string;
  /** The sink behind the group, when the name or the id names one. */
  sink: SinkName | null;
  /** Topics the sink reads (as configured, or as overridden); empty for a group that is not a sink. */
  topics: string[];
}

/** The topics a sink's group reads, from its handlers (no I/O: sinks are built without connecting). */
export function sinkTopicNames(config: Config, sink: SinkName, topics?: SinkTopics): string[] {
  return sinks[sink].create(config, { topics: { ...configuredSinkTopics(config), ...topics } }).handlers.map((h) => h.topic.name);
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

export { groupState, type GroupState };

/** Throws GroupActiveError while the group has members. */
export async function assertGroupStopped(admin: Admin, groupId: string): Promise<void> {
  const { state, members } = await groupState(admin, groupId);
  if (members > 0) throw new GroupActiveError(groupId, state, members);
}

export interface GroupHold {
  readonly groupId: string;
  /**
   * Commits offsets as the group's member that owns every partition. The broker accepts a member's commit only for its
   * current generation, so this also proves the hold is still current; throws GroupHoldLostError when it is not.
   */
  commit(offsets: ReadonlyArray<{ topic: string; partition: number; offset: string }>): Promise<void>;
  /** Throws GroupHoldLostError unless this member has been, at every (re)join since the hold began, the leader owning every partition. */
  assertHeld(): void;
  /** Leaves the group; its partitions go to whoever else is a member (a rebalance). Idempotent. */
  release(): Promise<void>;
}

// kafkajs members all offer this protocol name (their default round-robin assigner); offering the same name is what
// lets the group pick it while our member is in it, and the group's leader runs its own implementation of it.
const PROTOCOL = 'RoundRobinAssigner';

/**
 * Joins `groupId` with a member that owns every partition of `topics` and reads nothing (paused, never commits on its
 * own), and keeps it that way until release(): while it is in the group, no other member can be assigned a partition,
 * so none can write a record and commit its offset.
 *
 * How: in a consumer group the leader computes the assignment for everyone, and the coordinator keeps the first member
 * as leader for as long as it stays in the group (it rejoins at every rebalance). Our member offers the protocol every
 * kafkajs member offers, under the same name, with an assigner that gives every partition to itself (recognised by a
 * random token in its subscription metadata) and none to anyone else. Members that join later get an empty
 * assignment; they stay idle until we leave.
 *
 * It is verified, not assumed: the first join must make us the leader with every partition (otherwise someone was
 * there first: GroupActiveError, and we leave, having changed nothing); every later rejoin must too, under the same
 * member id (a new id means we were evicted, and a generation without us may have existed); a crash or an unexpected
 * stop loses the hold. assertHeld() and commit() report any of these as GroupHoldLostError.
 */
export async function holdGroup(kafka: Kafka, admin: Admin, o: { groupId: string; topics: readonly string[]; logger: Logger }): Promise<GroupHold> {
  const log = o.logger.child({ group: o.groupId, role: 'rebuild-hold' });
  const token = Buffer.from(randomUUID());
  const expected = (await Promise.all(o.topics.map(async (topic) =>
    (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition }))))).flat();

  const assigner: PartitionAssigner = ({ cluster }): Assigner => ({
    name: PROTOCOL,
    version: 0,
    async assign({ members, topics }) {
      const mine = members.find((m) => AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData.equals(token));
      const all = Object.fromEntries(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId)]));
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: m === mine ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: PROTOCOL, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: token }) };
    },
  });

  let memberId: string | undefined;
  let firstJoin: string | null | undefined; // undefined: not joined yet; null: joined holding everything; else why not
  let lost: string | undefined;
  let released = false;
  const why = (p: { isLeader: boolean; leaderId: string; memberAssignment: Record<string, number[]> }): string | null => {
    if (!p.isLeader) return `member ${p.leaderId} leads the group`;
    const missing = expected.filter((e) => !p.memberAssignment[e.topic]?.includes(e.partition));
    return missing.length ? `not assigned ${missing.map((m) => `${m.topic}/${m.partition}`).join(', ')}` : null;
  };
  const onJoin = (payload: { memberId: string; isLeader: boolean; leaderId: string; memberAssignment: Record<string, number[]> }) => {
    const reason = why(payload);
    if (firstJoin === undefined) { memberId = payload.memberId; firstJoin = reason; return; }
    if (payload.memberId !== memberId) lost ??= 'evicted from the group and rejoined as a new member';
    else if (reason) lost ??= reason;
    log.debug({ memberId: payload.memberId, reason }, 'holder rejoined the group');
  };
  const member = await joinIdle(kafka, {
    groupId: o.groupId, topics: o.topics, partitionAssigners: [assigner], sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 60_000,
    onJoin,
    onCrash: (error) => { lost ??= `holder crashed: ${errorMessage(error)}`; },
    onStop: () => { if (!released) lost ??= 'holder stopped'; },
  });
  const release = async () => {
    if (released) return;
    released = true;
    await member.leave();
  };
  if (firstJoin !== null) {
    const { state, members } = await groupState(admin, o.groupId);
    await release();
    if (firstJoin === undefined) throw new GroupHoldLostError(o.groupId, lost ?? 'could not join the group');
    if (members > 1) throw new GroupActiveError(o.groupId, state, members - 1);
    throw new GroupHoldLostError(o.groupId, firstJoin);
  }
  log.info({ partitions: expected.length }, 'holding the group: no other member can own a partition');

  const assertHeld = () => { if (lost || released) throw new GroupHoldLostError(o.groupId, lost ?? 'released'); };
  return {
    groupId: o.groupId,
    assertHeld,
    async commit(offsets) {
      assertHeld();
      try {
        await member.commit(offsets);
      } catch (err) {
        lost ??= `commit refused: ${errorMessage(err)}`;
      }
      assertHeld();
    },
    release,
  };
}
