// Typed Avro serde in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro body). Encoding
// registers the topic's local schema under `<topic>-value` (BACKWARD) once (./schema-registration.ts), or with
// SCHEMA_AUTO_REGISTER=false only looks up the id it was registered with, failing when it is not registered;
// decoding reads with the writer schema from the registry into the topic's local schema, so every version yields T.
// After the first record of a schema id, neither direction touches the registry again. Writer schemas are kept by id on
// disk (lib/schema-cache.ts), so known records decode while the registry is down, also after a restart; a 404 for an id
// the registry lists (its storage is down) is an outage, never "unknown schema id".
import type avro from 'avsc';
import type { Config } from './config.ts';
import { DecodeError, errorMessage, RegistryHttpError, TransientError, ValidationError } from './errors.ts';
import { createSchemaRegistryClient, type SchemaRegistryClient } from './schema-registry-client.ts';
import { createSchemaCache } from './schema-cache.ts';
import { createSchemaRegistration } from './schema-registration.ts';
import { loadSchema, parseSchema, type AvroSchemaJson } from '../schemas/avro.ts';
import type { TopicDef } from '../topics/index.ts';

export interface Decoded<T> { value: T; schemaId: number }

export interface Serde {
  /**
   * Registers the topic's schema under `<topic>-value` (BACKWARD) on first use (with SCHEMA_AUTO_REGISTER=false: looks
   * up its id, SchemaRejectedError when it is not registered), then encodes in Confluent wire format.
   */
  encode<T>(topic: TopicDef<T>, value: T): Promise<Buffer>;
  /**
   * The encoder of a topic, once its schema is registered: a synchronous function for bulk publishing.
   * Throws ValidationError for a value that does not fit the schema.
   */
  encoder<T>(topic: TopicDef<T>): Promise<(value: T) => Buffer>;
  /**
   * Decodes Confluent wire format with the writer schema from the registry, read into the topic's local schema (reader
   * schema) so old and new versions both yield T. Throws DecodeError for bad magic byte, unknown schema id (higher than
   * any the registry lists), corrupt body. A registry that is unreachable, refuses us, or answers 404 for an id it lists
   * is a TransientError, not a DecodeError.
   */
  decode<T>(topic: TopicDef<T>, bytes: Buffer): Promise<Decoded<T>>;
  /**
   * decode() without waiting, for the hot path: the record when its writer schema is already known to this serde,
   * undefined when it has to be fetched first (then call decode). Throws what decode throws for bad bytes.
   */
  decodeKnown<T>(topic: TopicDef<T>, bytes: Buffer): Decoded<T> | undefined;
  /** Schema id registered for the topic (registers if needed, unless SCHEMA_AUTO_REGISTER is false). */
  schemaId(topic: TopicDef<unknown>): Promise<number>;
}

const MAGIC = 0;
const HEADER = 5;
const SLAB = 64 * 1024;

type Reader = (payload: Buffer) => unknown;
type Encoder = (value: unknown) => Buffer;

export function createSerde(config: Config): Serde {
  const rest = createSchemaRegistryClient(config);
  const registration = createSchemaRegistration(config, rest);
  const schemaCache = createSchemaCache(config);
  const ids = new Map<string, Promise<number>>(); // subject + schema text → id
  // Readers depend on the local schema file and the writer id only; the WeakMap is the per-record fast path.
  const readersByFile = new Map<string, Map<number, Reader | Promise<Reader>>>();
  const readers = new WeakMap<TopicDef<any>, Map<number, Reader | Promise<Reader>>>();
  const encoders = new WeakMap<TopicDef<any>, Encoder>();

  /** Dedupes concurrent first calls; a failure is not cached, so the next call tries again. */
  function once<K, V>(cache: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
    let p = cache.get(key);
    if (!p) {
      p = make();
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  }

  function schemaId(topic: TopicDef<unknown>): Promise<number> {
    const schema = loadSchema(topic.schemaFile);
    return once(ids, `${topic.subject}\n${schema.text}`, () => registration.idFor(topic.subject, schema.text));
  }

  async function encoder<T>(topic: TopicDef<T>): Promise<(value: T) => Buffer> {
    const cached = encoders.get(topic);
    if (cached) return cached;
    const id = await schemaId(topic);
    const type = loadSchema(topic.schemaFile).type;
    // Records are written header + body straight into a shared slab and handed out as views of it:
    // no per-record allocation or copy (a slab is freed once no record of it is referenced).
    let slab = Buffer.allocUnsafe(SLAB);
    let pos = 0;
    const enc: Encoder = (value) => {
      for (;;) {
        if (slab.length - pos < HEADER + 1) {
          slab = Buffer.allocUnsafe(SLAB);
          pos = 0;
        }
        slab[pos] = MAGIC;
        slab.writeInt32BE(id, pos + 1);
        let end: number;
        try {
          end = type.encode(value, slab, pos + HEADER);
        } catch (err) {
          throw new ValidationError(`value does not fit ${type.name}: ${invalidPaths(type, value) || errorMessage(err)}`, err);
        }
        if (end > 0) {
          const out = slab.subarray(pos, end);
          pos = end;
          return out;
        }
        // Did not fit: continue in a fresh slab big enough for it.
        slab = Buffer.allocUnsafe(Math.max(SLAB, 2 * (HEADER - end + slab.length - pos)));
        pos = 0;
      }
    };
    encoders.set(topic, enc);
    return enc;
  }

  /**
   * The writer schema of `id`: fetched from the registry once per process (then kept in memory and on disk). A 404 is
   * "unknown schema id" only when the registry lists no id that high; a registry that lists the id (or cannot say) but
   * answers 404 has lost its storage, so the decode is retried like any outage and never dead-lettered. Only when the
   * registry cannot answer (unreachable, timing out, 5xx or 429, refusing our credentials, lost storage: a
   * TransientError) is the copy an earlier fetch left on disk used; a definitive answer (an unknown id, another 4xx, a
   * schema that is not Avro) wins over the disk, which may hold what a registry recreated at the same address forgot.
   */
  async function writerSchema(id: number): Promise<string> {
    const cached = schemaCache.get(id);
    if (cached !== undefined) return cached;
    try {
      const schema = await fetchWriterSchema(id);
      schemaCache.put(id, schema);
      return schema;
    } catch (err) {
      const stored = err instanceof TransientError ? schemaCache.stored(id) : undefined;
      if (stored !== undefined) return stored;
      throw err;
    }
  }

  async function fetchWriterSchema(id: number): Promise<string> {
    let body: { schema?: unknown; schemaType?: unknown } | null;
    try {
      body = await rest.request('GET', `/schemas/ids/${id}`) as typeof body;
    } catch (err) {
      if (!(err instanceof RegistryHttpError))
        throw new TransientError(`schema registry unreachable while fetching schema id ${id}: ${errorMessage(err)}`, err);
      if (err.status === 404) {
        const highest = await highestListedId(rest, id);
        if (id <= highest)
          throw new TransientError(`schema registry answered 404 for schema id ${id} although it lists ids up to ${highest}: ` +
          `taken as a registry outage (storage down?), retrying`, err);
        throw new DecodeError(`unknown schema id ${id} (the registry lists ids up to ${highest})`, err);
      }
      if (err.retriable || err.status === 401 || err.status === 403 || err.status === 408) {
        throw new TransientError(`schema registry refused or failed to serve schema id ${id} (${err.status}): ${errorMessage(err)}`, err);
      }
      throw new DecodeError(`schema id ${id} cannot be fetched: ${errorMessage(err)}`, err);
    }
    if (typeof body?.schema !== 'string') throw new TransientError(`schema registry answered schema id ${id} without a schema`);
    if (body.schemaType !== undefined && body.schemaType !== 'AVRO') throw new DecodeError(`schema id ${id} is a ${String(body.schemaType)} schema, not Avro`);
    return body.schema;
  }

  async function makeReader(topic: TopicDef<unknown>, id: number): Promise<Reader> {
    const local = loadSchema(topic.schemaFile).type;
    const text = await writerSchema(id);
    let writer: avro.Type;
    try {
      writer = parseSchema(JSON.parse(text) as AvroSchemaJson);
    } catch (err) {
      throw new DecodeError(`schema id ${id} is not a valid Avro schema: ${errorMessage(err)}`, err);
    }
    if (writer.equals(local)) return (payload) => local.fromBuffer(payload);
    let resolver: avro.Resolver;
    try {
      resolver = local.createResolver(writer);
    } catch (err) {
      throw new DecodeError(`records of schema id ${id} (${writer.name}) cannot be read as ${local.name}: ${errorMessage(err)}`, err);
    }
    return (payload) => local.fromBuffer(payload, resolver);
  }

  function readersOf(topic: TopicDef<unknown>): Map<number, Reader | Promise<Reader>> {
    let byId = readers.get(topic);
    if (!byId) {
      const file = loadSchema(topic.schemaFile).file;
      byId = readersByFile.get(file) ?? new Map();
      readersByFile.set(file, byId);
      readers.set(topic, byId);
    }
    return byId;
  }

  function schemaIdOf(bytes: Buffer): number {
    if (bytes.length < HEADER) throw new DecodeError(`record of ${bytes.length} bytes is too short for the Confluent wire format`);
    if (bytes[0] !== MAGIC) throw new DecodeError(`unknown magic byte ${bytes[0]} (expected ${MAGIC}: Confluent wire format)`);
    return bytes.readInt32BE(1);
  }

  function read<T>(reader: Reader, id: number, bytes: Buffer): Decoded<T> {
    try {
      return { value: reader(bytes.subarray(HEADER)) as T, schemaId: id };
    } catch (err) {
      throw new DecodeError(`corrupt Avro body (schema id ${id}): ${errorMessage(err)}`, err);
    }
  }

  function decodeKnown<T>(topic: TopicDef<T>, bytes: Buffer): Decoded<T> | undefined {
    const id = schemaIdOf(bytes);
    const reader = readersOf(topic).get(id);
    return typeof reader === 'function' ? read<T>(reader, id, bytes) : undefined;
  }

  async function decode<T>(topic: TopicDef<T>, bytes: Buffer): Promise<Decoded<T>> {
    const id = schemaIdOf(bytes);
    const byId = readersOf(topic);
    let reader = byId.get(id);
    if (!reader) {
      const p = makeReader(topic, id);
      byId.set(id, p);
      p.then((r) => byId.set(id, r), () => byId.delete(id));
      reader = p;
    }
    if (typeof reader !== 'function') reader = await reader;
    return read<T>(reader, id, bytes);
  }

  return {
    encode: async (topic, value) => (encoders.get(topic) ?? (await encoder(topic)))(value),
    encoder,
    decode,
    decodeKnown,
    schemaId,
  };
}

/**
 * The highest schema id the registry lists (GET /schemas, or the latest version of every subject where that endpoint
 * is missing). Any failure to list is an outage: whether `id` exists cannot be told, so the caller retries.
 */
async function highestListedId(rest: SchemaRegistryClient, id: number): Promise<number> {
  try {
    let listed: { id?: unknown }[];
    try {
      listed = (await rest.request('GET', '/schemas?deleted=true') ?? []) as { id?: unknown }[];
    } catch (err) {
      if (!(err instanceof RegistryHttpError && err.status === 404)) throw err;
      const subjects = (await rest.request('GET', '/subjects?deleted=true') ?? []) as string[];
      listed = await Promise.all(subjects.map(async (s) =>
        (await rest.request('GET', `/subjects/${encodeURIComponent(s)}/versions/latest`)) as { id?: unknown }));
    }
    return listed.reduce((max, x) => (typeof x?.id === 'number' && x.id > max ? x.id : max), 0);
  } catch (err) {
    throw new TransientError(`schema registry answered 404 for schema id ${id} and cannot list its schemas (${errorMessage(err)}): ` +
      `taken as a registry outage, retrying`, err);
  }
}

function invalidPaths(type: avro.Type, value: unknown): string {
  const paths: string[] = [];
  type.isValid(value, { errorHook: (path: string[], v: unknown) => paths.push(`${path.join('.') || '<root>'} = ${String(v)}`) });
  return paths.join('; ');
}
