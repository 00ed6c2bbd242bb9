// Rebuild a store from the log: with the sink's group stopped, move its offsets to the earliest retained record on every
// topic it reads, clear what the sink materialized (Sink.reset), then run the group in this process until it has caught
// up with the end offsets taken at the start, reporting progress, and count what the store holds afterwards.
// Sinks are idempotent and ordered by event time, so a rebuild reproduces the same state.
import { setTimeout as sleep } from 'node:timers/promises';
import { sinks, type StoreName } from '../consumers/registry.ts';
import { startSinks } from '../consumers/start.ts';
import type { ResetScope, Sink, SinkTopics, StoreCounts } from '../consumers/types.ts';
import type { Config } from '../lib/config.ts';
import { RebuildUnsupportedError } from '../lib/errors.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { ensureTopics } from '../topics/admin.ts';
import { assertGroupStopped, resolveGroup } from './groups.ts';
import { applyOffsets, planReplay, type OffsetChange } from './replay.ts';

export interface RebuildProgress {
  /** Records consumed (committed) since the rebuild started. */
  done: number;
  /** Records in the log when it started. */
  total: number;
  elapsedMs: number;
  perSecond: number;
}

export interface RebuildOptions {
  config: Config;
  logger: Logger;
  sink: StoreName;
  /** Topic overrides (isolated topics in tests and benchmarks); default: the configured topics. */
  topics?: SinkTopics;
  /** Clear (and count) only these symbols' data; default everything the sink materializes. */
  scope?: ResetScope;
  onProgress?(p: RebuildProgress): void;
  /** Stops waiting (the group is stopped gracefully; its offsets keep the progress made, so `consume` resumes it). */
  signal?: AbortSignal;
  /** How often committed offsets are read (default 500 ms). */
  pollMs?: number;
}

export interface RebuildResult {
  sink: StoreName;
  groupId: string;
  topics: string[];
  /** Offsets before and after the rewind, per partition. */
  rewound: OffsetChange[];
  records: number;
  ms: number;
  perSecond: number;
  /** What the store holds afterwards (within the scope). */
  counts: StoreCounts;
  /** False when stopped by the signal before catching up. */
  completed: boolean;
}

export async function rebuild(o: RebuildOptions): Promise<RebuildResult> {
  const { config, logger } = o;
  const group = resolveGroup(config, o.sink, o.topics);
  const kafka = createKafka(config, logger, 'rebuild');
  await ensureTopics(kafka, config, o.topics ? Object.values(o.topics) : undefined);
  const admin = kafka.admin();
  await admin.connect();
  let rewound: OffsetChange[];
  try {
    // Offsets first: if a member joins in the meantime this fails, and nothing has been cleared yet.
    await assertGroupStopped(admin, group.groupId);
    rewound = (await planReplay(admin, { groupId: group.groupId, topics: group.topics, target: { kind: 'earliest' } })).changes;
    await applyOffsets(kafka, admin, group.groupId, rewound);
  } finally {
    await admin.disconnect();
  }
  logger.info({ group: group.groupId, topics: group.topics }, 'offsets rewound to earliest; clearing the store');

  await withStore(o, (store) => {
    if (!store.reset) throw new RebuildUnsupportedError(store.name);
    return store.reset(o.scope);
  });

  // Caught up = committed offset at or past the end offset every partition had when we started.
  const total = rewound.reduce((n, c) => n + c.lagAfter, 0);
  const started = Date.now();
  let done = 0;
  let completed = total === 0;
  let caughtUpAt = started;
  const progress = () => {
    const elapsedMs = Date.now() - started;
    o.onProgress?.({ done, total, elapsedMs, perSecond: elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0 });
  };
  progress();
  if (!completed) {
    const running = await startSinks({ config, logger, names: [o.sink], topics: o.topics });
    const watch = kafka.admin();
    await watch.connect();
    try {
      while (!o.signal?.aborted) {
        const committed = await watch.fetchOffsets({ groupId: group.groupId, topics: group.topics });
        done = 0;
        let behind = false;
        for (const c of rewound) {
          const at = Number(committed.find((t) => t.topic === c.topic)?.partitions.find((p) => p.partition === c.partition)?.offset ?? -1);
          const end = Number(c.latest);
          done += Math.max(0, Math.min(at, end) - Number(c.after));
          if (at < end) behind = true;
        }
        progress();
        if (!behind) { completed = true; caughtUpAt = Date.now(); break; }
        await sleep(o.pollMs ?? 500, undefined, { signal: o.signal }).catch(() => {});
      }
    } finally {
      await watch.disconnect();
      await running.stop();
    }
  }
  // Rate up to catching up; stopping the group and counting afterwards are not replay time.
  const ms = (completed ? caughtUpAt : Date.now()) - started;
  return {
    sink: o.sink, groupId: group.groupId, topics: group.topics, rewound, records: done, ms,
    perSecond: ms > 0 ? Math.round((done * 1000) / ms) : 0,
    counts: await withStore(o, async (store) => (await store.counts?.(o.scope)) ?? {}),
    completed,
  };
}

/** Runs `fn` with the sink connected to its store (no Kafka), then closes it. */
async function withStore<T>(o: RebuildOptions, fn: (store: Sink) => Promise<T>): Promise<T> {
  const store = sinks[o.sink].create(o.config, { topics: o.topics ?? {}, logger: o.logger });
  await store.connect();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
