// How marketstream turns Avro schemas into avsc types. The serde (lib/serde.ts) and the TypeScript
// generator (schemas/codegen.ts) both parse through here, so the generated types describe exactly the
// values that encode accepts and decode returns:
// - timestamp-millis stays a plain `long`, i.e. a JS number of epoch ms (no Date);
// - unions are unwrapped when avsc can tell the branches apart from the JS value (`string | null`),
//   and wrapped (`{ UpsertNode: {...} }`, keyed by the branch's name) when they cannot, e.g. several records;
// - in a union that holds both `long` and `double`, the long branch is a JS bigint, so `30n` (long) and
//   `30` (double) stay distinct and the union can still be unwrapped.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

/** The folder holding the `.avsc` files; TopicDef.schemaFile is relative to it (or absolute). */
export const schemasDir = path.dirname(fileURLToPath(import.meta.url));

/** A parsed Avro JSON schema, as read from an `.avsc` file or the registry. */
export type AvroSchemaJson = Record<string, unknown> | unknown[] | string;

/** Avro long as a JS bigint; used only for the long branch of a union that also holds a double. */
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as string | number),
  toJSON: (n: bigint) => n.toString(),
  isValid: (v: unknown) => typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

const isLongRef = (s: unknown) => s === 'long' || (typeof s === 'object' && s !== null && !Array.isArray(s)
  && (s as { type?: unknown }).type === 'long' && (s as { logicalType?: unknown }).logicalType === undefined);
const isDoubleRef = (s: unknown) => s === 'double' || (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'double');

function typeHook(schema: unknown, opts: avro.ForSchemaOptions): avro.Type | undefined {
  if (Array.isArray(schema) && schema.some(isLongRef) && schema.some(isDoubleRef)) {
    return avro.Type.forSchema(schema.map((s) => (isLongRef(s) ? bigintLong : s)) as avro.Schema, opts);
  }
  return undefined;
}

/** avsc options every parse uses (also handed to the registry client for writer schemas). */
export function avroOptions(): Partial<avro.ForSchemaOptions> {
  return { wrapUnions: 'auto', typeHook };
}

export function parseSchema(schema: AvroSchemaJson): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, avroOptions());
}

export interface LoadedSchema {
  /** Absolute path of the `.avsc` file. */
  readonly file: string;
  /** The schema text as registered (compact JSON). */
  readonly text: string;
  readonly json: AvroSchemaJson;
  readonly type: avro.Type;
}

const loaded = new Map<string, LoadedSchema>();

/** Reads and parses a schema file once (path relative to schemas/, or absolute). */
export function loadSchema(schemaFile: string): LoadedSchema {
  const file = path.resolve(schemasDir, schemaFile);
  let hit = loaded.get(file);
  if (!hit) {
    const json = JSON.parse(readFileSync(file, 'utf8')) as AvroSchemaJson;
    hit = { file, json, text: JSON.stringify(json), type: parseSchema(json) };
    loaded.set(file, hit);
  }
  return hit;
}
