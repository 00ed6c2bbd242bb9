// The sink runner's batch handler without a broker: a fake kafkajs EachBatchPayload, an in-memory sink, a JSON serde and
// a recording publisher. Every observable step lands in one `events` log, so the tests can check what happened in what order.
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createBatchHandler, type RunnerHooks } from '../../consumers/runner.ts';
import type { SinkRecord, TopicHandler } from '../../consumers/types.ts';
import { loadConfig } from '../../lib/config.ts';
import { DecodeError, SchemaRejectedError, TransientError, ValidationError, errorClass } from '../../lib/errors.ts';
import type { DeadLetter, Publisher } from '../../lib/publisher.ts';
import type { Serde } from '../../lib/serde.ts';
import type { TopicDef } from '../../topics/index.ts';
import { memoryLogger } from './runner/helpers.ts';

interface Row { id: number; bad?: boolean; invalid?: boolean }

const topic: TopicDef<Row> = {
  name: 'prices', dlq: 'prices.dlq', subject: 'prices-value', schemaFile: 'unused.avsc', key: (v) => String(v.id),
  settings: () => ({ partitions: 1, replicationFactor: 1, retentionMs: 1, cleanupPolicy: 'delete' }),
};

/** A raw record: JSON of `value`, raw bytes when given a Buffer, a tombstone for null. */
type In = { value: Row | Buffer | null; key?: string; headers?: KafkaMessage['headers'] };

/** Everything observable, in order: `write:<ids>`, `dlq:<offsets>`, `resolve:<offset>`, `commit`, `heartbeat`, … */
type Events = string[];

const FIRST_OFFSET = 100;

/** A fake EachBatchPayload over `records` (offsets from 100) that logs its calls to `events`. */
function batch(events: Events, records: In[],
  o: { running?: () => boolean; stale?: () => boolean; first?: number; partition?: number; heartbeat?: () => Promise<void> } = {}) {
  const FIRST_OFFSET = o.first ?? 100;
  const messages = records.map((r, i) => ({
    key: r.key === undefined ? null : Buffer.from(r.key),
    value: r.value === null ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(JSON.stringify(r.value)),
    timestamp: String(1_700_000_000_000 + i), attributes: 0, offset: String(FIRST_OFFSET + i), headers: r.headers ?? {},
  })) as KafkaMessage[];
  const p = {
    batch: {
      topic: topic.name, partition: o.partition ?? 3, messages,
      isEmpty: () => messages.length === 0,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages.at(-1)?.offset ?? String(FIRST_OFFSET - 1),
    },
    resolveOffset: (offset: string) => { events.push(`resolve:${offset}`); },
    // `commit` when committing just past this batch (or kafkajs's resolved offsets); else `commit:<partition>@<offset>,…`
    commitOffsetsIfNecessary: async (offsets?: { topics: { partitions: { partition: number; offset: string }[] }[] }) => {
      const parts = offsets?.topics.flatMap((t) => t.partitions) ?? [];
      const justPast = parts.length === 0 || (parts.length === 1 && parts[0]!.offset === String(Number(messages.at(-1)?.offset) + 1));
      events.push(justPast ? 'commit' : `commit:${parts.map((x) => `${x.partition}@${x.offset}`).join(',')}`);
    },
    heartbeat: o.heartbeat ?? (async () => { events.push('heartbeat'); }),
    isRunning: o.running ?? (() => true),
    isStale: o.stale ?? (() => false),
  };
  return p as unknown as EachBatchPayload;
}

/**
 * An in-memory sink with one handler. `write` decides each writeBatch call (throw to fail it); by default the store
 * rejects, as data, any batch holding a record marked `bad`. Successful writes are logged as `write:<ids>`.
 */
function sinkOf(events: Events, o: { write?: (rows: (Row | null)[], call: number) => void | Promise<void>; validate?: TopicHandler<Row>['validate'];
  acceptsTombstones?: boolean } = {}) {
  const written: SinkRecord<Row>[][] = [];
  let calls = 0;
  const handler: TopicHandler<Row> = {
    topic, validate: o.validate, acceptsTombstones: o.acceptsTombstones,
    async writeBatch(records) {
      const rows = records.map((r) => r.value);
      calls++;
      if (o.write) await o.write(rows, calls);
      else if (rows.some((r) => r?.bad)) throw new ValidationError('row rejected by the store');
      written.push([...records]);
      events.push(`write:${rows.map((r) => r?.id ?? 'null').join(',')}`);
    },
  };
  const sink = { name: 'test-sink', handlers: [handler], connect: async () => {}, ping: async () => {}, close: async () => {} };
  return { sink, written, writeCalls: () => calls };
}

/** JSON decoding; DecodeError for bytes that are not JSON; TransientError (registry down) while `down` > 0. */
function jsonSerde() {
  const s = {
    down: 0,
    async decode(_topic: TopicDef<unknown>, bytes: Buffer) {
      if (s.down > 0) { s.down--; throw new TransientError('schema registry unavailable'); }
      try { return { value: JSON.parse(bytes.toString('utf8')), schemaId: 1 }; } catch (err) { throw new DecodeError('not JSON', err); }
    },
    decodeKnown: () => undefined, // every record goes through decode(), where the outages above are caused
    encode: () => Promise.reject(new Error('not used')),
    encoder: () => Promise.reject(new Error('not used')),
    schemaId: () => Promise.reject(new Error('not used')),
  };
  return s;
}

/** Records deadLetter calls (`dlq:<offsets>`); the first `failures` calls fail retriably. */
function recordingPublisher(events: Events, failures = 0) {
  const dead: DeadLetter[] = [];
  let calls = 0;
  const publisher: Publisher = {
    async deadLetter(t, records) {
      expect(t).toBe(topic);
      if (++calls <= failures) { events.push('dlq-failed'); throw new TransientError('broker unavailable'); }
      dead.push(...records);
      events.push(`dlq:${records.map((r) => r.origin?.offset).join(',')}`);
    },
    connect: async () => {}, disconnect: async () => {}, send: async () => {}, sendTombstone: async () => {}, sendRaw: async () => {},
    deadLetterCommitting: () => Promise.reject(new Error('not used: a handler driven without a group dead-letters without a transaction')),
  };
  return { publisher, dead, calls: () => calls };
}

const config = loadConfig({ SINK_RETRY_MAX_MS: '100' }); // the smallest back-off cap the spec allows: retries take ~100 ms

/** The handler over a fresh sink, serde and publisher, with everything they record. */
function setup(o: Parameters<typeof sinkOf>[1] & { dlqFailures?: number; hooks?: RunnerHooks; pipeline?: boolean; publisher?: Publisher;
  commitIntervalMs?: number } = {}) {
  const events: Events = [];
  const { sink, written, writeCalls } = sinkOf(events, o);
  const serde = jsonSerde();
  const pub = recordingPublisher(events, o.dlqFailures);
  const { logger, lines } = memoryLogger();
  const handler = createBatchHandler({
    sink, groupId: 'test-group', serde: serde as Serde, publisher: o.publisher ?? pub.publisher, logger, hooks: o.hooks,
    config: o.commitIntervalMs === undefined ? config : { ...config, SINK_COMMIT_INTERVAL_MS: o.commitIntervalMs },
    pipeline: o.pipeline, seek: (_topic, _partition, offset) => { events.push(`seek:${offset}`); },
  });
  return { handler, events, written, writeCalls, serde, dead: pub.dead, dlqCalls: pub.calls, logs: lines };
}

const without = (events: Events, name: string) => events.filter((e) => e !== name);

describe('sink runner batch handler', () => {
  describe('commits only after the write', () => {
    it('resolves and commits the last offset only after writeBatch resolved', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      let writing!: () => void;
      const started = new Promise<void>((r) => { writing = r; });
      const t = setup({ write: async () => { writing(); await gate; } });
      const done = t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]));
      await started;
      await new Promise((r) => setTimeout(r, 20));
      expect(t.events).toEqual([]); // the write is in flight: nothing resolved or committed yet
      release();
      await done;
      expect(t.events).toEqual(['write:1,2', 'resolve:101', 'commit']);
    });

    it('a batch the store rejects as data is isolated by halving: the bad record is dead-lettered, the rest written in order, then committed', async () => {
      const t = setup();
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2, bad: true } }, { value: { id: 3 } }, { value: { id: 4 } }]));
      expect(t.writeCalls()).toBe(5); // 1-4 rejected, 1-2 rejected, 1 written, 2 rejected alone, 3-4 written
      expect(t.events).toEqual(['write:1', 'write:3,4', 'dlq:101', 'resolve:103', 'commit']);
      expect(t.dead).toHaveLength(1);
      expect(t.dead[0]!.error).toBeInstanceOf(ValidationError);
      expect(JSON.parse(t.dead[0]!.value!.toString())).toEqual({ id: 2, bad: true });
    });

    it('one bad record in a large batch costs about 2·log2(n) writes, and every other record is written once', async () => {
      const t = setup();
      const n = 1024;
      await t.handler.eachBatch(batch(t.events, Array.from({ length: n }, (_, i) => ({ value: i === 700 ? { id: i, bad: true } : { id: i } }))));
      expect(t.writeCalls()).toBeLessThanOrEqual(2 * Math.log2(n) + 1);
      const written = t.events.filter((e) => e.startsWith('write:')).flatMap((e) => e.slice(6).split(',').map(Number));
      expect(written).toEqual(Array.from({ length: n }, (_, i) => i).filter((i) => i !== 700));
      expect(t.dead).toHaveLength(1);
    });

    it('a write that never succeeds before abort() leaves nothing resolved or committed', async () => {
      const t = setup({
        write: (_rows, call) => {
          if (call === 3) t.handler.abort();
          throw new TransientError('store down');
        },
      });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }]));
      expect(t.writeCalls()).toBe(3);
      expect(t.written).toEqual([]);
      expect(without(t.events, 'heartbeat')).toEqual([]);
      expect(t.dlqCalls()).toBe(0);
    });
  });

  describe('bad records go to the DLQ alone', () => {
    it('an undecodable record is dead-lettered with its bytes, key, headers and origin; the records around it are written in offset order', async () => {
      const t = setup();
      const garbage = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
      await t.handler.eachBatch(batch(t.events, [
        { value: { id: 1 } },
        { value: garbage, key: 'k2', headers: { 'correlation-id': Buffer.from('c-2'), multi: [Buffer.from('a'), Buffer.from('b')] } },
        { value: { id: 3 } },
      ]));
      expect(t.events).toEqual(['write:1,3', 'dlq:101', 'resolve:102', 'commit']);
      const [d] = t.dead;
      expect(d!.error).toBeInstanceOf(DecodeError);
      expect(d).toMatchObject({ key: 'k2', value: garbage, headers: { 'correlation-id': 'c-2', multi: 'a,b' } });
      expect(d!.origin).toEqual({ topic: 'prices', partition: 3, offset: '101', group: 'test-group', timestamp: '1700000000001' });
    });

    it('a record failing validate is dead-lettered as a ValidationError with the reason', async () => {
      const t = setup({ validate: (v) => (v.invalid ? `row ${v.id} is invalid` : null) });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }, { value: { id: 3, invalid: true } }, { value: { id: 4 } }]));
      expect(t.events).toEqual(['write:1,2,4', 'dlq:102', 'resolve:103', 'commit']);
      const err = t.dead[0]!.error;
      expect(err).toBeInstanceOf(ValidationError);
      expect(errorClass(err)).toBe('ValidationError'); // the DLQ's error-class header
      expect((err as Error).message).toBe('row 3 is invalid');
    });
  });

  describe('retriable failures', () => {
    it('a store write failing with TransientError twice is retried (heartbeating, onRetry) and written once, then committed', async () => {
      const retries: number[] = [];
      const t = setup({
        write: (_rows, call) => { if (call <= 2) throw new TransientError('store down'); },
        hooks: { onRetry: (e) => { retries.push(e.attempt); } },
      });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]));
      expect(t.writeCalls()).toBe(3);
      expect(t.events).toEqual(['heartbeat', 'heartbeat', 'write:1,2', 'resolve:101', 'commit']);
      expect(retries).toEqual([1, 2]);
      expect(t.dlqCalls()).toBe(0);
    });

    it('a retriable decode failure (registry down) is retried and nothing is dead-lettered', async () => {
      const t = setup();
      t.serde.down = 2;
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]));
      expect(t.serde.down).toBe(0);
      expect(t.dlqCalls()).toBe(0);
      expect(t.events).toEqual(['heartbeat', 'heartbeat', 'write:1,2', 'resolve:101', 'commit']);
    });

    it('a DLQ publish failing retriably is retried, and the commit happens only after it succeeded', async () => {
      const t = setup({ dlqFailures: 2 });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: Buffer.from('not json') }]));
      expect(t.dlqCalls()).toBe(3);
      expect(without(t.events, 'heartbeat')).toEqual(['write:1', 'dlq-failed', 'dlq-failed', 'dlq:101', 'resolve:101', 'commit']);
    });
  });

  describe('abandonment when stopping', () => {
    it('a write failing retriably until the member stops running returns without resolving, committing or dead-lettering', async () => {
      let running = true;
      const t = setup({
        write: (_rows, call) => {
          if (call === 3) running = false;
          throw new TransientError('store down');
        },
      });
      await expect(t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }], { running: () => running }))).resolves.toBeUndefined();
      expect(t.writeCalls()).toBe(3); // gave up at the first failure after isRunning() turned false; no record-by-record isolation
      expect(without(t.events, 'heartbeat')).toEqual([]);
      expect(t.dlqCalls()).toBe(0);
    });

    it('a group rebalancing while the store is down abandons the batch (uncommitted, nothing dead-lettered) so the member can rejoin', async () => {
      const t = setup({ write: () => { throw new TransientError('store down'); } });
      const p = batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]);
      let beats = 0;
      (p as unknown as { heartbeat: () => Promise<void> }).heartbeat = async () => {
        if (++beats >= 2) throw Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { type: 'REBALANCE_IN_PROGRESS' });
      };
      await expect(t.handler.eachBatch(p)).resolves.toBeUndefined();
      expect(t.events).toEqual([]);
      expect(t.dlqCalls()).toBe(0);
      // Retried (one heartbeat after each failed write) until the heartbeat that learnt of the rebalance, then no more.
      expect(t.writeCalls()).toBe(2);
      expect(beats).toBe(2);
      expect(t.logs.filter((l) => l.msg === 'store write failed; pausing this partition and retrying').map((l) => l.attempt)).toEqual([1, 2]);
    });

    it('a heartbeat failing for another reason (broker unreachable) does not abandon the batch: it is retried until written', async () => {
      const t = setup({ write: (_rows, call) => { if (call <= 3) throw new TransientError('store down'); } });
      const p = batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]);
      (p as unknown as { heartbeat: () => Promise<void> }).heartbeat = async () => {
        throw Object.assign(new Error('Connection error: connect ECONNREFUSED'), { type: 'KAFKAJS_CONNECTION_ERROR' });
      };
      await t.handler.eachBatch(p);
      expect(t.writeCalls()).toBe(4);
      expect(t.events).toEqual(['write:1,2', 'resolve:101', 'commit']);
    });

    it('a member stopping while the store is down during record-by-record isolation dead-letters nothing', async () => {
      let running = true;
      const t = setup({
        write: (rows, call) => {
          if (call === 1) throw new ValidationError('batch rejected as data');
          running = false; // the store goes down while isolating, and the member stops
          throw new TransientError(`store down writing ${rows.length} row(s)`);
        },
      });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }, { value: { id: 3 } }], { running: () => running }));
      expect(t.writeCalls()).toBe(2);
      expect(t.events).toEqual([]);
      expect(t.dlqCalls()).toBe(0);
    });

    it('a partition reassigned while the write fails retriably (isStale) is abandoned the same way', async () => {
      let stale = false;
      const t = setup({ write: () => { stale = true; throw new TransientError('store down'); } });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }], { stale: () => stale }));
      expect(t.writeCalls()).toBe(1);
      expect(t.events).toEqual([]);
      expect(t.dlqCalls()).toBe(0);
    });
  });

  describe('hooks cannot fail a batch', () => {
    it.each(['onWritten', 'onDeadLetter', 'onRetry'] as const)('a throwing %s is logged, and the batch is still written, dead-lettered and committed',
      async (name) => {
      const called: string[] = [];
      const hooks: RunnerHooks = {
        onWritten: () => { called.push('onWritten'); },
        onDeadLetter: () => { called.push('onDeadLetter'); },
        onRetry: () => { called.push('onRetry'); },
        [name]: () => { called.push(name); throw new Error(`${name} exploded`); },
      };
      const t = setup({ hooks, write: (_rows, call) => { if (call === 1) throw new TransientError('store down'); } });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: Buffer.from('not json') }, { value: { id: 3 } }]));
      expect(called).toContain(name);
      expect(without(t.events, 'heartbeat')).toEqual(['write:1,3', 'dlq:101', 'resolve:102', 'commit']);
      expect(t.logs).toContainEqual(expect.objectContaining({ level: 40, hook: name, err: `${name} exploded` }));
    });
  });

  describe('tombstones', () => {
    it('are dead-lettered when the handler does not accept them', async () => {
      const t = setup();
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: null, key: 'gone' }]));
      expect(t.events).toEqual(['write:1', 'dlq:101', 'resolve:101', 'commit']);
      expect(t.dead[0]).toMatchObject({ key: 'gone', value: null });
      expect(t.dead[0]!.error).toBeInstanceOf(DecodeError);
    });

    it('are passed to writeBatch as value null, in offset order, when the handler accepts them', async () => {
      const t = setup({ acceptsTombstones: true });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 }, key: 'a' }, { value: null, key: 'gone' }, { value: { id: 3 }, key: 'c' }]));
      expect(t.events).toEqual(['write:1,null,3', 'resolve:102', 'commit']);
      expect(t.written[0]!.map((r) => [r.key, r.value])).toEqual([['a', { id: 1 }], ['gone', null], ['c', { id: 3 }]]);
      expect(t.dlqCalls()).toBe(0);
    });
  });

  describe('pipelined: the next fetch overlaps the write', () => {
    /** A write gate: `writing` resolves when a write started, `release()` lets it end. */
    function gate() {
      let release!: () => void; let writing!: () => void;
      const open = new Promise<void>((r) => { release = r; });
      const started = new Promise<void>((r) => { writing = r; });
      return { release, started, wait: async () => { writing(); await open; } };
    }
    const settled = async (p: Promise<unknown>) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))]);

    it('eachBatch returns while the write is in flight, having moved the fetch position; the commit comes only after the write', async () => {
      const g = gate();
      const t = setup({ pipeline: true, write: g.wait });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]));
      await g.started;
      expect(t.events).toEqual(['resolve:101']); // fetching goes on; nothing is committed
      g.release();
      await t.handler.drain();
      expect(t.events).toEqual(['resolve:101', 'write:1,2', 'commit']);
    });

    it('a partition\'s next batch waits for the write before it: one write at a time, in offset order, committed after them', async () => {
      const g = gate();
      const t = setup({ pipeline: true, write: (_rows, call) => (call === 1 ? g.wait() : undefined) });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }]));
      const second = t.handler.eachBatch(batch(t.events, [{ value: { id: 3 } }, { value: { id: 4 } }], { first: 102 }));
      expect(await settled(second)).toBe(false); // decoded, waiting for the write of 100-101
      g.release();
      await second;
      await t.handler.drain();
      expect(t.events).toEqual(['resolve:101', 'write:1,2', 'resolve:103', 'write:3,4', 'commit']); // one commit, past 103
    });

    it('offsets written within SINK_COMMIT_INTERVAL_MS go in one commit for all partitions, sent only after their writes', async () => {
      const t = setup({ pipeline: true, commitIntervalMs: 50 });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }], { partition: 3 }));
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 5 } }], { partition: 4, first: 200 }));
      await new Promise((r) => setTimeout(r, 10));
      expect(t.events).toEqual(['resolve:101', 'write:1,2', 'resolve:200', 'write:5']);
      await new Promise((r) => setTimeout(r, 100));
      expect(t.events.slice(4)).toEqual(['commit:3@102,4@201']);
    });

    it('a write abandoned after the hand-off (the group rebalanced) fetches its batch again, and the batch fetched after it is not written', async () => {
      let rebalancing = true;
      const t = setup({ pipeline: true, write: () => { if (rebalancing) throw new TransientError('store down'); } });
      const heartbeat = async () => { if (rebalancing) throw Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }); };
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }], { heartbeat }));
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 3 } }], { first: 102 })); // waits, then learns the write before was abandoned
      expect(t.events).toEqual(['resolve:101', 'seek:100']);
      expect(t.written).toEqual([]);
      rebalancing = false;
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: { id: 2 } }, { value: { id: 3 } }])); // the same records, fetched again
      await t.handler.drain();
      expect(t.events.slice(2)).toEqual(['resolve:102', 'write:1,2,3', 'commit']);
    });

    it('a batch that fails for good after the hand-off fails the next eachBatch of its partition (kafkajs restarts from the last commit), once', async () => {
      const failing: Publisher = { ...recordingPublisher([]).publisher, deadLetter: async () => { throw new SchemaRejectedError('DLQ topic deleted'); } };
      const t = setup({ pipeline: true, publisher: failing });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }, { value: Buffer.from('not json') }]));
      await expect(t.handler.eachBatch(batch(t.events, [{ value: { id: 3 } }], { first: 102 }))).rejects.toThrow('DLQ topic deleted');
      expect(t.events).toEqual(['resolve:101', 'write:1', 'seek:100']); // nothing committed; fetched again from 100
      expect(t.logs).toContainEqual(expect.objectContaining({ level: 50, err: 'DLQ topic deleted' }));
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }], { first: 100 }));
      await t.handler.drain();
      expect(t.events.slice(3)).toEqual(['resolve:100', 'write:1', 'commit']);
    });

    it('drain() waits for the writes handed off and their commits; afterwards eachBatch returns only once its batch is written and committed', async () => {
      const g = gate();
      const t = setup({ pipeline: true, write: (_rows, call) => (call === 1 ? g.wait() : undefined) });
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 1 } }]));
      const drained = t.handler.drain();
      expect(await settled(drained)).toBe(false);
      g.release();
      await drained;
      await t.handler.eachBatch(batch(t.events, [{ value: { id: 2 } }], { first: 101 }));
      expect(t.events).toEqual(['resolve:100', 'write:1', 'commit', 'resolve:101', 'write:2', 'commit']);
    });
  });
});
