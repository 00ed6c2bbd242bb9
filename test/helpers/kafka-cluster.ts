// A Kafka cluster of a test's own (the stack's Kafka code, other ports, a temporary data root), for faults that must not
// touch the shared broker: kill a broker, watch leaders move. Real brokers, never a fake.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAFKA_HOST, startKafkaCluster, type KafkaCluster } from '../../stack/services/kafka.ts';

export type { KafkaCluster, RunningKafkaNode } from '../../stack/services/kafka.ts';

function portFree(port: number, host = KAFKA_HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A base port with `count` free ports after it (inclusive), picked at random between 20000 and 32000. */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 2 * Math.floor(Math.random() * 6000); // below the kernel's ephemeral range (32768+)
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}

export interface TestKafkaCluster extends KafkaCluster {
  /** The data root (kept on failure when KEEP_KAFKA_CLUSTER=1, for its logs). */
  readonly root: string;
  /** Stops every node and removes the data root. */
  close(): Promise<void>;
}

/**
 * Starts `nodes` (default 3) combined broker+controller nodes on free ports under a temporary directory, with the
 * server.properties a production-like cluster has (internal topics replicated 3 times, min ISR 2) plus `properties`.
 */
export async function startTestKafkaCluster(o: { nodes?: number; properties?: Record<string, string>; log?: (m: string) =>
  void } = {}): Promise<TestKafkaCluster> {
  const nodes = o.nodes ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'marketstream-kafka-'));
  const cluster = await startKafkaCluster({ nodes, portBase: await freePortBlock(2 * nodes), root, properties: o.properties, log: o.log })
    .catch((err: unknown) => {
      if (process.env.KEEP_KAFKA_CLUSTER !== '1') rmSync(root, { recursive: true, force: true });
      throw err;
    });
  return {
    ...cluster,
    root,
    async close() {
      await cluster.stop();
      if (process.env.KEEP_KAFKA_CLUSTER !== '1') rmSync(root, { recursive: true, force: true });
    },
  };
}
