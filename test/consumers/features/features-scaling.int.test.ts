// The features group scaled over OS processes (`marketstream consume features`) while bars, corrections and late bars
// stream in: one member, a second joins (1 → 2), the second is SIGKILLed mid-stream (2 → 1). Whoever computed a bar,
// and whatever was computed twice, the last features published for every bar are what one plain run over the final bars
// gives, and what a fresh group computing the whole log again publishes (a rebuild).
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSinks, type RunningSinks } from '../../../consumers/start.ts';
import { createSerde } from '../../../lib/serde.ts';
import type { PriceUpdate } from '../../../schemas/types.generated.ts';
import { ensureTopics } from '../../../topics/admin.ts';
import { priceFeatures, withName } from '../../../topics/index.ts';
import { deleteTestTopics, randomName, symbolsInEveryPartition, testConfig, waitFor } from '../../helpers/index.ts';
import { sinkProcesses, type Member } from '../sink-processes.ts';
import { caughtUp, differences, priceRecord, publishedFeatures, reference, valuesOf } from './harness.ts';

const BARS = 450;
const T0 = Date.UTC(2026, 10, 2, 14, 30);
const MINUTE = 60_000;

function barOf(symbol: string, k: number, i: number, by = 0): PriceUpdate {
  const close = 80 + k * 3 + Math.sin(i / 7 + k) * 4 + (i % 13) / 10 + by;
  const volume = 500 + ((i * 37 + k) % 400);
  return priceRecord(symbol, { eventTime: T0 + i * MINUTE, open: close - 0.2, high: close + 0.6, low: close - 0.7, close, volume, vwap: null });
}

describe('the features group scaled 1 → 2 → 1 over processes, one SIGKILLed mid-stream', () => {
  const out = withName(priceFeatures, randomName('test-features-scale-out'));
  const rebuilt = withName(priceFeatures, randomName('test-features-scale-rebuilt'));
  const f = sinkProcesses('features-scale', { TOPIC_PARTITIONS: '6', KAFKA_SESSION_TIMEOUT_MS: '6000', PRICE_FEATURES_TOPIC: out.name }, 'features');
  const symbols = symbolsInEveryPartition(6, 2);
  const sent: PriceUpdate[] = [];
  const rebuildPrefix = randomName('test-features-scale-rebuild');
  let rebuild: RunningSinks | undefined;

  beforeAll(async () => { await ensureTopics(f.kafka, f.config, [out, rebuilt]); });
  afterAll(async () => {
    await rebuild?.stop();
    await f.pool.query('DELETE FROM feature_bars WHERE group_id = ANY($1)', [[f.groupId, `${rebuildPrefix}.features`]]);
    await f.pool.query('DELETE FROM feature_state WHERE group_id = ANY($1)', [[f.groupId, `${rebuildPrefix}.features`]]);
    await deleteTestTopics(f.kafka, [out.name, out.dlq, rebuilt.name, rebuilt.dlq]);
  });

  /** Bars [from, to) of every symbol, in chunks of 10 per symbol; every 40th bar corrects the bar 25 back, every 90th comes 5 bars late. */
  async function stream(from: number, to: number, pauseMs: number, during?: (i: number) => Promise<void>) {
    for (let start = from; start < to; start += 10) {
      const chunk: PriceUpdate[] = [];
      for (let i = start; i < Math.min(start + 10, to); i++) {
        symbols.forEach((s, k) => {
          if (i % 90 === 0 && i > 0) return; // sent 5 bars later
          chunk.push(barOf(s, k, i));
          if (i % 90 === 5 && i > 5) chunk.push(barOf(s, k, i - 5));
          if (i % 40 === 0 && i >= 25) chunk.push(barOf(s, k, i - 25, 0.9));
        });
      }
      sent.push(...chunk);
      await f.publisher.send(f.topic, chunk, { source: 'test' });
      await during?.(start);
      await sleep(pauseMs);
    }
  }

  const members = async () => (await f.admin.describeGroups([f.groupId])).groups[0];

  it('every bar ends with the features of one plain run over the final bars, and of a rebuild', { timeout: 300_000 }, async () => {
    const a = f.start('a');
    await stream(0, 150, 50);
    await waitFor(async () => (await members())?.state === 'Stable', { timeoutMs: 60_000, what: 'member a in the group' });
    const b = f.start('b');
    await waitFor(async () => { const g = await members(); return g?.state === 'Stable' && g.members.length === 2; },
      { timeoutMs: 60_000, what: 'both members in the group' });
    let killed: Member | undefined;
    await stream(150, 350, 100, async (i) => {
      if (i >= 250 && !killed) { b.child.kill('SIGKILL'); killed = b; }
    });
    await killed!.exited;
    await stream(350, BARS, 20);
    await caughtUp(f.admin, f.groupId, f.topic.name, 120_000);
    expect(a.child.exitCode).toBe(null); // the survivor is still running

    const serde = createSerde(f.config);
    const want = reference(sent);
    const live = await publishedFeatures(f.kafka, serde, out, symbols, (m) => m.size === want.size);
    expect(differences(live, want)).toEqual([]);

    rebuild = await startSinks({ config: testConfig({ ...f.env, KAFKA_GROUP_PREFIX: rebuildPrefix }), logger: f.logger, names: ['features'],
      topics: { prices: f.topic, features: rebuilt } });
    const again = await publishedFeatures(f.kafka, serde, rebuilt, symbols, (m) => m.size === want.size);
    const comparable = (m: typeof again) => [...m].map(([k, v]) => [k, valuesOf(v)]).sort((x, y) => (x[0]! < y[0]! ? -1 : 1));
    expect(comparable(live)).toEqual(comparable(again));
  });
});
