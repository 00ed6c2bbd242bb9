// Decoding and validation of a batch, without a broker: a JSON serde in place of the Avro one, raw records as kafkajs gives them.
import { describe, expect, it } from 'vitest';
import { decodeBatch, Received } from '../../../consumers/runner/decode.ts';
import type { TopicHandler } from '../../../consumers/types.ts';
import { DecodeError, TransientError, ValidationError } from '../../../lib/errors.ts';
import type { Serde } from '../../../lib/serde.ts';
import type { TopicDef } from '../../../topics/index.ts';
import { messages } from './helpers.ts';

interface Row { id: number; invalid?: boolean }

const topic = { name: 'prices', dlq: 'prices.dlq' } as TopicDef<Row>;

/** JSON for bytes that parse (DecodeError otherwise); `known` ids decode synchronously; TransientError while `down` > 0. */
function jsonSerde(o: { known?: (v: Row) => boolean } = {}) {
  const s = {
    down: 0, slow: 0,
    decodeKnown(_t: TopicDef<unknown>, bytes: Buffer) {
      const v = parse(bytes);
      return o.known?.(v) ? { value: v, schemaId: 1 } : undefined;
    },
    async decode(_t: TopicDef<unknown>, bytes: Buffer) {
      if (s.down > 0) { s.down--; throw new TransientError('schema registry unavailable'); }
      s.slow++;
      return { value: parse(bytes), schemaId: 1 };
    },
  };
  return s;
}
function parse(bytes: Buffer): Row {
  try { return JSON.parse(bytes.toString('utf8')) as Row; } catch (err) { throw new DecodeError('not JSON', err); }
}

const handler = (o: Partial<TopicHandler<Row>> = {}): TopicHandler<Row> => ({
  topic, validate: (v) => (v.invalid ? `row ${v.id} is invalid` : null), writeBatch: async () => {}, ...o,
});
const batchOf = (values: (Row | Buffer | null)[], keys?: (string | null)[]) =>
  ({ topic: 'prices', partition: 4, messages: messages(values, { first: 10, keys }) });

describe('decodeBatch', () => {
  it('turns each record into a SinkRecord in offset order, with where it was read, its Kafka timestamp and its key', async () => {
    const out = await decodeBatch(handler(), batchOf([{ id: 1 }, { id: 2 }], ['a', null]), jsonSerde() as unknown as Serde, 'g');
    expect(out.dead).toEqual([]);
    expect(out.good.map((r) => [r.value, r.key, r.topic, r.partition, r.offset, r.timestamp])).toEqual([
      [{ id: 1 }, 'a', 'prices', 4, '10', 1_700_000_000_000],
      [{ id: 2 }, null, 'prices', 4, '11', 1_700_000_000_001],
    ]);
    expect(out.good[0]).toBeInstanceOf(Received);
    expect(out.raw.map((m) => m.offset)).toEqual(['10', '11']); // raw[i] is the message of good[i]
  });

  it('dead-letters an undecodable and an invalid record with the error, bytes and origin; the others stay, raw beside good', async () => {
    const garbage = Buffer.from([0xde, 0xad]);
    const out = await decodeBatch(handler(), batchOf([{ id: 1 }, garbage, { id: 3, invalid: true }, { id: 4 }], [null, 'k2', null, null]),
      jsonSerde() as unknown as Serde, 'grp');
    expect(out.good.map((r) => r.value)).toEqual([{ id: 1 }, { id: 4 }]);
    expect(out.raw.map((m) => m.offset)).toEqual(['10', '13']);
    expect(out.dead.map((d) => [d.origin, d.key, d.error?.constructor])).toEqual([
      [{ topic: 'prices', partition: 4, offset: '11', group: 'grp', timestamp: '1700000000001' }, 'k2', DecodeError],
      [{ topic: 'prices', partition: 4, offset: '12', group: 'grp', timestamp: '1700000000002' }, null, ValidationError],
    ]);
    expect(out.dead[0]!.value).toEqual(garbage);
    expect((out.dead[1]!.error as Error).message).toBe('row 3 is invalid');
  });

  it('a tombstone is a record with value null when the handler accepts them, a DecodeError dead letter otherwise', async () => {
    const accepted = await decodeBatch(handler({ acceptsTombstones: true }), batchOf([{ id: 1 }, null], [null, 'gone']), jsonSerde() as unknown as Serde, 'g');
    expect(accepted.good.map((r) => [r.key, r.value])).toEqual([[null, { id: 1 }], ['gone', null]]);
    expect(accepted.dead).toEqual([]);
    const refused = await decodeBatch(handler(), batchOf([{ id: 1 }, null], [null, 'gone']), jsonSerde() as unknown as Serde, 'g');
    expect(refused.good.map((r) => r.value)).toEqual([{ id: 1 }]);
    expect(refused.dead.map((d) => [d.key, d.value, d.error instanceof DecodeError])).toEqual([['gone', null, true]]);
  });

  it('a retriable failure (the registry down) fails the whole decode: nothing is dead-lettered for it', async () => {
    const serde = jsonSerde();
    serde.down = 1;
    await expect(decodeBatch(handler(), batchOf([{ id: 1 }, { id: 2 }]), serde as unknown as Serde, 'g')).rejects.toBeInstanceOf(TransientError);
    const again = await decodeBatch(handler(), batchOf([{ id: 1 }, { id: 2 }]), serde as unknown as Serde, 'g');
    expect(again.good.map((r) => r.value)).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('a record whose writer schema is already known is decoded without waiting on the registry', async () => {
    const serde = jsonSerde({ known: (v) => v.id === 1 });
    const out = await decodeBatch(handler(), batchOf([{ id: 1 }, { id: 2 }]), serde as unknown as Serde, 'g');
    expect(out.good.map((r) => r.value)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(serde.slow).toBe(1); // only record 2 went through decode()
  });
});
