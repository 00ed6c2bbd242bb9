// How two versions of a contract differ, in words, and whether the newer one still reads what the older one wrote
// (BACKWARD). Pure: `marketstream schema check` puts this next to the registry's verdict, and a unit test compares
// every contract with its version at the previous commit, without a registry.
import { parseSchema, type AvroSchemaJson } from './avro.ts';

type Json = Record<string, unknown>;

export type SchemaChange =
  | { kind: 'field-added'; record: string; field: string; type: string; default?: unknown }
  | { kind: 'field-removed'; record: string; field: string; type: string; default?: unknown }
  | { kind: 'type-changed'; record: string; field: string; from: string; to: string }
  | { kind: 'default-changed'; record: string; field: string; from?: unknown; to?: unknown }
  | { kind: 'record-added' | 'record-removed'; record: string }
  | { kind: 'symbols-added'; record: string; symbols: string[]; oldDefault?: string }
  | { kind: 'symbols-removed'; record: string; symbols: string[]; default?: string }
  | { kind: 'enum-default-changed'; record: string; from?: string; to?: string };

/** Whether a change keeps the fields' reading intact under BACKWARD (new code reading old records). */
export function breaksBackward(c: SchemaChange): boolean {
  if (c.kind === 'field-added') return !('default' in c);
  if (c.kind === 'default-changed') return c.to === undefined; // a field that lost its default cannot be filled in
  if (c.kind === 'symbols-removed') return c.default === undefined; // old records may hold the symbol: read as the enum's default, if it has one
  return c.kind === 'type-changed';
}

/** One line per change, naming the field: "field PriceUpdate.vwap added (null | double, default null)". */
export function describeChange(c: SchemaChange): string {
  const def = (v: unknown) => JSON.stringify(v);
  switch (c.kind) {
    case 'field-added':
      return 'default' in c
        ? `field ${c.record}.${c.field} added (${c.type}, default ${def(c.default)}): old records read as ${def(c.default)}`
        : `field ${c.record}.${c.field} added (${c.type}) WITHOUT a default: records written before cannot be read with this schema; give it a default`;
    case 'field-removed':
      return `field ${c.record}.${c.field} removed (was ${c.type}${'default' in c ? `, default ${def(c.default)}` : ', no default'})`;
    case 'type-changed':
      return `field ${c.record}.${c.field} type changed: ${c.from} → ${c.to}`;
    case 'default-changed':
      return c.to === undefined
        ? `field ${c.record}.${c.field} lost its default (was ${def(c.from)})`
        : `field ${c.record}.${c.field} default ${c.from === undefined ? 'added' : `changed from ${def(c.from)}`} → ${def(c.to)}`;
    case 'record-added': return `type ${c.record} added`;
    case 'record-removed': return `type ${c.record} removed`;
    case 'symbols-added':
      // avsc resolves a writer's enum into the reader's once per schema: a reader without a default refuses every record.
      return `enum ${c.record}: symbols added ${c.symbols.join(', ')}${c.oldDefault === undefined ? ' (code built on the previous version cannot read '
        + 'any record written with this one, its enum having no default: upgrade consumers before producers)' : ''}`;
    case 'symbols-removed':
      return `enum ${c.record}: symbols removed ${c.symbols.join(', ')} (${c.default === undefined ? 'old records holding them cannot be read'
        : `old records holding them read as ${c.default}`})`;
    case 'enum-default-changed':
      return c.to === undefined ? `enum ${c.record} lost its default (was ${c.from}): a reader of it cannot read a symbol added later`
        : `enum ${c.record} default ${c.from === undefined ? 'added' : `changed from ${c.from}`} → ${c.to}: a reader of it reads a symbol it does ` +
          `not know as ${c.to}`;
  }
}

/** The differences from `before` to `after`, named types compared by full name (nested records and enums too). */
export function diffSchemas(before: AvroSchemaJson, after: AvroSchemaJson): SchemaChange[] {
  const old = namedTypes(before);
  const neu = namedTypes(after);
  const out: SchemaChange[] = [];
  for (const [name, n] of neu) {
    const o = old.get(name);
    const short = shortName(name);
    if (!o) { out.push({ kind: 'record-added', record: short }); continue; }
    if (n.type === 'enum' && o.type === 'enum') {
      const [os, ns] = [o.symbols as string[], n.symbols as string[]];
      const added = ns.filter((s) => !os.includes(s));
      const removed = os.filter((s) => !ns.includes(s));
      const [od, nd] = [o.default as string | undefined, n.default as string | undefined];
      if (added.length) out.push({ kind: 'symbols-added', record: short, symbols: added, ...(od === undefined ? {} : { oldDefault: od }) });
      if (removed.length) out.push({ kind: 'symbols-removed', record: short, symbols: removed, ...(nd === undefined ? {} : { default: nd }) });
      if (od !== nd) {
        out.push({ kind: 'enum-default-changed', record: short, ...(od === undefined ? {} : { from: od }), ...(nd === undefined ? {} : { to: nd }) });
      }
    }
    if (!isRecord(n) || !isRecord(o)) continue;
    const ofields = new Map((o.fields as Json[]).map((f) => [f.name as string, f]));
    const nfields = new Map((n.fields as Json[]).map((f) => [f.name as string, f]));
    for (const [field, nf] of nfields) {
      const of = ofields.get(field);
      if (!of) {
        out.push({ kind: 'field-added', record: short, field, type: typeLabel(nf.type), ...('default' in nf ? { default: nf.default } : {}) });
        continue;
      }
      const [from, to] = [typeLabel(of.type), typeLabel(nf.type)];
      if (from !== to) out.push({ kind: 'type-changed', record: short, field, from, to });
      if (JSON.stringify(of.default) !== JSON.stringify(nf.default)) {
        out.push({ kind: 'default-changed', record: short, field, ...('default' in of ? { from: of.default } : {}),
          ...('default' in nf ? { to: nf.default } : {}) });
      }
    }
    for (const [field, of] of ofields) {
      if (!nfields.has(field)) out.push({ kind: 'field-removed', record: short, field, type: typeLabel(of.type),
        ...('default' in of ? { default: of.default } : {}) });
    }
  }
  for (const name of old.keys()) if (!neu.has(name)) out.push({ kind: 'record-removed', record: shortName(name) });
  return out;
}

/**
 * null when `after` reads every record `before` wrote (avsc builds a resolver from the old writer schema to the new
 * reader schema), else why not, in avsc's words.
 */
export function backwardProblem(before: AvroSchemaJson, after: AvroSchemaJson): string | null {
  try {
    parseSchema(after).createResolver(parseSchema(before));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The top-level record's full name (namespace.name), which identifies a contract whatever file holds it. */
export function recordFullName(schema: AvroSchemaJson): string | undefined {
  return [...namedTypes(schema).keys()][0];
}

const isRecord = (t: Json) => t.type === 'record' || t.type === 'error';
const shortName = (full: string) => full.slice(full.lastIndexOf('.') + 1);

/** Every named type (record, error, enum, fixed) by full name, the outermost first. */
function namedTypes(schema: AvroSchemaJson): Map<string, Json> {
  const out = new Map<string, Json>();
  const walk = (s: unknown, ns: string | undefined): void => {
    if (Array.isArray(s)) { for (const b of s) walk(b, ns); return; }
    if (typeof s !== 'object' || s === null) return;
    const t = s as Json;
    if (typeof t.type === 'object') { walk(t.type, ns); return; }
    if (t.type === 'array') { walk(t.items, ns); return; }
    if (t.type === 'map') { walk(t.values, ns); return; }
    if (!['record', 'error', 'enum', 'fixed'].includes(t.type as string) || typeof t.name !== 'string') return;
    const space = typeof t.namespace === 'string' ? t.namespace : ns;
    const full = t.name.includes('.') || !space ? t.name : `${space}.${t.name}`;
    out.set(full, t);
    const inner = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : undefined;
    if (isRecord(t)) for (const f of (t.fields as Json[])) walk(f.type, inner);
  };
  walk(schema, undefined);
  return out;
}

/** A field type in words: `null | double`, `long (timestamp-millis)`, `array<string>`, named types by short name. */
export function typeLabel(t: unknown): string {
  if (typeof t === 'string') return shortName(t);
  if (Array.isArray(t)) return t.map(typeLabel).join(' | ');
  if (typeof t !== 'object' || t === null) return String(t);
  const o = t as Json;
  if (typeof o.type === 'object') return typeLabel(o.type);
  if (['record', 'error', 'enum', 'fixed'].includes(o.type as string)) return shortName(o.name as string);
  if (o.type === 'array') return `array<${typeLabel(o.items)}>`;
  if (o.type === 'map') return `map<${typeLabel(o.values)}>`;
  return typeof o.logicalType === 'string' ? `${String(o.type)} (${o.logicalType})` : String(o.type);
}
