// Decoding any record for display: Confluent wire format read with the writer schema from the registry (no local schema
// needed, so every topic and version can be shown), the schema's subject and version looked up by id, and a raw
// hex/UTF-8 preview of bytes that do not decode (the usual content of a DLQ record).
import type { Config } from '../../lib/config.ts';
import { errorMessage, RegistryHttpError } from '../../lib/errors.ts';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';

export interface SchemaRef { id: number; subject: string | null; version: number | null }

export type DecodedValue =
  | { kind: 'avro'; schema: SchemaRef; value: unknown }
  | { kind: 'tombstone' }
  /** Not Confluent wire format but JSON: what producers dead-letter for inputs they could not turn into a record. */
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; error: string; bytes: number; hex: string; utf8: string };

export interface RecordDecoder {
  /** `topic` picks the subject (`<topic>-value`, or the original topic's for a `.dlq`) when a schema is under several. */
  decode(topic: string, value: Buffer | null): Promise<DecodedValue>;
  schemaRef(id: number, topic: string): Promise<SchemaRef>;
}

const PREVIEW_BYTES = 64;

export function createRecordDecoder(config: Config): RecordDecoder {
  const rest = createSchemaRegistryClient(config);
  const registry = rest.confluent({ clientId: 'marketstream-inspect', retries: 1 });
  const refs = new Map<number, Promise<Array<{ subject: string; version: number }>>>();

  /** Subjects and versions registered with this schema id: GET /schemas/ids/{id}/versions, else a scan of the topic's subject. */
  function versionsOf(id: number, topic: string): Promise<Array<{ subject: string; version: number }>> {
    let p = refs.get(id);
    if (!p) {
      p = (async () => {
        try {
          return (await rest.request('GET', `/schemas/ids/${id}/versions`) as Array<{ subject: string; version: number }> | null) ?? [];
        } catch (err) {
          if (!(err instanceof RegistryHttpError) || err.status !== 404) throw err;
          const subject = subjectOf(topic);
          const versions = (await rest.request('GET', `/subjects/${encodeURIComponent(subject)}/versions`).catch(() => [])) as number[] | null;
          for (const v of versions ?? []) {
            const s = await rest.request('GET', `/subjects/${encodeURIComponent(subject)}/versions/${v}`) as { id: number };
            if (s.id === id) return [{ subject, version: v }];
          }
          return [];
        }
      })();
      refs.set(id, p);
      p.catch(() => refs.delete(id));
    }
    return p;
  }

  async function schemaRef(id: number, topic: string): Promise<SchemaRef> {
    const all = await versionsOf(id, topic).catch(() => []);
    const mine = all.find((x) => x.subject === subjectOf(topic)) ?? all[0];
    return { id, subject: mine?.subject ?? null, version: mine?.version ?? null };
  }

  return {
    schemaRef,
    async decode(topic, value) {
      if (value === null) return { kind: 'tombstone' };
      if (value[0] === 0x7b || value[0] === 0x5b) {
        try { return { kind: 'json', value: JSON.parse(value.toString('utf8')) }; } catch { /* not JSON after all */ }
      }
      if (value.length < 5 || value[0] !== 0)
        return raw(value, value.length < 5 ? `${value.length} bytes: too short for the Confluent wire format`
        : `magic byte ${value[0]} is not 0 (not Confluent wire format)`);
      const id = value.readInt32BE(1);
      try {
        const decoded: unknown = await registry.decode(value);
        return { kind: 'avro', schema: await schemaRef(id, topic), value: decoded };
      } catch (err) {
        return raw(value, `schema id ${id}: ${errorMessage(err)}`);
      }
    },
  };
}

/** The value subject of a topic; a DLQ record's schema is its original topic's. */
export function subjectOf(topic: string): string {
  return `${topic.replace(/\.dlq$/, '')}-value`;
}

export interface RawPreview { bytes: number; hex: string; utf8: string }

/** The first 64 bytes as spaced hex and as UTF-8 with control characters shown as dots (one line either way). */
export function preview(value: Buffer): RawPreview {
  const head = value.subarray(0, PREVIEW_BYTES);
  const utf8 = head.toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '.');
  return { bytes: value.length, hex: head.toString('hex').replace(/(..)(?!$)/g, '$1 '), utf8 };
}

function raw(value: Buffer, error: string): DecodedValue {
  return { kind: 'raw', error, ...preview(value) };
}

/** A decoded value made JSON-safe: bigints as strings, Buffers as hex. */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}
