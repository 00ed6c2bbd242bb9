// What a long-running command does when its graceful stop cannot finish (README: "a second signal, or 30 s, forces
// exit 1"), on a real `marketstream consume redis`: Redis is cut (a TCP proxy in front of the real server) while a
// batch is being written, so the batch in flight retries and the graceful stop waits for it. A second signal, of
// either kind, exits 1 at once; without one, the member abandons the batch within SHUTDOWN_GRACE_SECONDS and exits 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../../lib/publisher.ts';
import { createSerde } from '../../lib/serde.ts';
import { ensureTopics } from '../../topics/admin.ts';
import { priceUpdates, withName, type TopicDef } from '../../topics/index.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { bar, deleteTestTopics, randomName, randomSymbol, testConfig, testKafka, testLogger, waitFor } from '../helpers/index.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startCli, type CliProcess } from './cli-process.ts';

const config = testConfig({ TOPIC_PARTITIONS: '1' });
const kafka = testKafka(config);
const logger = testLogger('lifecycle-test');
const redis = new URL(config.REDIS_URL);

describe('a long-running command whose graceful stop cannot finish', () => {
  const topics: TopicDef<PriceUpdate>[] = [];
  const proxies: TcpProxy[] = [];
  const children: CliProcess[] = [];
  let publisher: Publisher;

  beforeAll(async () => {
    publisher = createPublisher({ kafka, serde: createSerde(config), logger });
    await publisher.connect();
  });

  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await publisher?.disconnect();
    for (const p of proxies) await p.close();
    await deleteTestTopics(kafka, topics.flatMap((t) => [t.name, t.dlq]));
  });

  /** `consume redis` on its own topic and group, through a proxy to Redis, stopped by `signal` while Redis is cut mid-write. */
  async function stuckStop(signal: NodeJS.Signals, env: Record<string, string> = {}): Promise<{ cli: CliProcess; signalledAt: number }> {
    const topic = withName(priceUpdates, randomName('test-lifecycle'));
    topics.push(topic);
    await ensureTopics(kafka, config, [topic]);
    const proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    proxies.push(proxy);
    const cli = startCli(['consume', 'redis'], {
      PRICE_UPDATES_TOPIC: topic.name, KAFKA_GROUP_PREFIX: randomName('test-lifecycle'), TOPIC_PARTITIONS: '1',
      REDIS_URL: `redis://${redis.hostname}:${proxy.port}`, SINK_RETRY_MAX_MS: '500', LOG_LEVEL: 'info', ...env,
    });
    children.push(cli);
    const logged = (msg: string | RegExp) => cli.logs().some((l) => typeof l.msg === 'string' && (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
    await waitFor(() => logged('joined group'), { what: 'the redis-sink member joining its group', timeoutMs: 60_000 });
    proxy.cut();
    await publisher.send(topic, [bar(randomSymbol(), 0, 100)], { source: 'test' });
    await waitFor(() => logged(/failed; pausing this partition and retrying$/), { what: 'the batch retrying against the cut Redis', timeoutMs: 30_000 });
    cli.child.kill(signal);
    const signalledAt = Date.now();
    await waitFor(() => logged(/^shutting down gracefully/), { what: 'the graceful stop starting', timeoutMs: 10_000, intervalMs: 20 });
    return { cli, signalledAt };
  }

  const logsWith = (cli: CliProcess, msg: string) => cli.logs().filter((l) => l.msg === msg);

  it.each([['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGTERM'], ['SIGTERM', 'SIGINT']] as const)(
    '%s then %s: exits 1 at once, without waiting for the batch', async (first, second) => {
    const { cli } = await stuckStop(first);
    const secondAt = Date.now();
    cli.child.kill(second);
    const exit = await cli.exited;
    expect(exit, cli.output().slice(-2000)).toEqual({ code: 1, signal: null });
    // The runner abandons a batch stuck on a dead store only after 10 s: the exit came from the second signal.
    expect(Date.now() - secondAt).toBeLessThan(5000);
    expect(logsWith(cli, 'second signal: exiting now').map((l) => l.signal)).toEqual([second]);
    expect(logsWith(cli, 'stopped')).toEqual([]);
  });

  it('one signal and no second: the batch that cannot finish is abandoned within SHUTDOWN_GRACE_SECONDS, and the command exits 1', async () => {
    // 4 s: the member gives up on the batch at half of it (so it leaves its group within it), which leaves the rest of
    // the stop (leaving the group, closing the store and the publisher) 2 s on a loaded machine.
    const { cli, signalledAt } = await stuckStop('SIGTERM', { SHUTDOWN_GRACE_SECONDS: '4' });
    const exit = await cli.exited;
    const took = Date.now() - signalledAt;
    expect(exit, cli.output().slice(-2000)).toEqual({ code: 1, signal: null });
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(8000); // before the runner's own 10 s would have let the stop end cleanly
    expect(logsWith(cli, 'shutting down gracefully: finishing the batches in flight, committing, disconnecting').map((l) => l.graceMs)).toEqual([4000]);
    expect(logsWith(cli, 'writes still running after the grace period; abandoned')).toHaveLength(1);
    expect(logsWith(cli, 'stopped; what could not finish within the grace period was abandoned, exit code 1')).toHaveLength(1);
    expect(logsWith(cli, 'stopped')).toEqual([]);
  });
});
