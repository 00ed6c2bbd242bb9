// `marketstream schema check|register`: each contract (an .avsc file) against the latest version registered under its
// subject. check asks the registry whether the file is compatible under the subject's compatibility level
// (POST /compatibility/subjects/<subject>/versions/latest?verbose=true), and says what differs in words and what each
// sink would do with it; register puts the file under its subject explicitly (the step production runs when producers
// do not register, SCHEMA_AUTO_REGISTER=false).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { storedFields } from '../consumers/stored-fields.ts';
import type { Config } from '../lib/config.ts';
import { errorMessage, RegistryHttpError } from '../lib/errors.ts';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../lib/schema-registry-client.ts';
import { createSchemaRegistration } from '../lib/schema-registration.ts';
import { loadSchema, parseSchema, type AvroSchemaJson } from '../schemas/avro.ts';
import { breaksBackward, describeChange, diffSchemas, recordFullName, type SchemaChange } from '../schemas/evolution.ts';
import { configuredTopics } from '../topics/index.ts';

/** One contract file and the subject it is registered under. */
export interface Contract {
  readonly file: string;
  /** schemas/ file name of the contract it is a version of (price-update.avsc, …), when it is one of ours. */
  readonly contract?: string;
  readonly subject: string;
  readonly json: AvroSchemaJson;
  /** Compact JSON, as registered. */
  readonly text: string;
}

export interface ContractCheck {
  readonly contract: Contract;
  /** The subject's compatibility level (its own, else the registry's global one). */
  readonly level: string;
  /** The latest registered version, or null when the subject has none yet. */
  readonly latest: { version: number; id: number } | null;
  readonly compatible: boolean;
  /** The registry's own reasons when incompatible. */
  readonly messages: readonly string[];
  readonly changes: readonly SchemaChange[];
  /** What each sink would do with the changes, one line each. */
  readonly impact: readonly string[];
}

/**
 * The contracts to work on: the given .avsc files (each matched to one of our topics by its record's full name, or
 * put under `subject` when given, for one file only), else the four in schemas/ under their configured subjects.
 */
export function resolveContracts(config: Config, files: readonly string[], subject?: string): Contract[] {
  const topics = configuredTopics(config).map((t) => ({ t, schema: loadSchema(t.schemaFile) }));
  if (files.length === 0) {
    return topics.map(({ t, schema }) => ({ file: schema.file, contract: path.basename(schema.file), subject: subject ?? t.subject,
      json: schema.json, text: schema.text }));
  }
  if (subject !== undefined && files.length > 1) throw new Error('--subject names the subject of one file; give one file with it');
  return files.map((file) => {
    let json: AvroSchemaJson;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as AvroSchemaJson;
      parseSchema(json);
    } catch (err) {
      throw new Error(`${file} is not a valid Avro schema: ${errorMessage(err)}`, { cause: err });
    }
    const name = recordFullName(json);
    const match = topics.find(({ schema }) => recordFullName(schema.json) === name);
    if (!match && subject === undefined) {
      throw new Error(`${file}: its record ${name ?? '(unnamed)'} is none of the contracts ` +
        `(${topics.map(({ schema }) => recordFullName(schema.json)).join(', ')}); name its subject with --subject`);
    }
    return { file: path.resolve(file), contract: match ? path.basename(match.schema.file) : undefined, subject: subject ?? match!.t.subject, json,
      text: JSON.stringify(json) };
  });
}

const enc = encodeURIComponent;

/** The subject's compatibility level: its own, else the global one. */
async function levelOf(rest: SchemaRegistryClient, subject: string): Promise<string> {
  const got = await rest.request('GET', `/config/${enc(subject)}?defaultToGlobal=true`).catch(async (err: unknown) => {
    if (!(err instanceof RegistryHttpError && err.status === 404)) throw err;
    return rest.request('GET', '/config');
  }) as { compatibilityLevel?: string; compatibility?: string } | null;
  return (got?.compatibilityLevel ?? got?.compatibility ?? 'BACKWARD').toUpperCase();
}

async function latestOf(rest: SchemaRegistryClient, subject: string): Promise<{ version: number; id: number; schema: string } | null> {
  try {
    return await rest.request('GET', `/subjects/${enc(subject)}/versions/latest`) as { version: number; id: number; schema: string };
  } catch (err) {
    if (err instanceof RegistryHttpError && err.status === 404) return null;
    throw err;
  }
}

/** Checks one contract against the latest version of its subject. */
export async function checkContract(rest: SchemaRegistryClient, contract: Contract): Promise<ContractCheck> {
  const level = await levelOf(rest, contract.subject);
  const latest = await latestOf(rest, contract.subject);
  if (!latest) {
    return { contract, level, latest: null, compatible: true, messages: [], changes: [], impact: ['nothing registered yet: registering makes this version 1'] };
  }
  const verdict = await rest.request('POST', `/compatibility/subjects/${enc(contract.subject)}/versions/latest?verbose=true`, { schema: contract.text }) as
    { is_compatible?: boolean; messages?: string[] } | null;
  const changes = diffSchemas(JSON.parse(latest.schema) as AvroSchemaJson, contract.json);
  return {
    contract, level, latest: { version: latest.version, id: latest.id },
    compatible: verdict?.is_compatible === true,
    messages: verdict?.messages ?? [],
    changes,
    impact: sinkImpact(contract, changes),
  };
}

export async function checkContracts(config: Config, contracts: readonly Contract[]): Promise<ContractCheck[]> {
  const rest = createSchemaRegistryClient(config);
  const out: ContractCheck[] = [];
  for (const c of contracts) out.push(await checkContract(rest, c));
  return out;
}

/** Registers each contract under its subject; the id and version each got (SchemaRejectedError with the registry's reason). */
export async function registerContracts(config: Config, contracts: readonly Contract[]): Promise<{ contract: Contract; id: number; version: number }[]> {
  const rest = createSchemaRegistryClient(config);
  const registration = createSchemaRegistration(config, rest);
  const out: { contract: Contract; id: number; version: number }[] = [];
  for (const contract of contracts) {
    const id = await registration.register(contract.subject, contract.text);
    const { version } = await rest.request('POST', `/subjects/${enc(contract.subject)}`, { schema: contract.text }) as { version: number };
    out.push({ contract, id, version });
  }
  return out;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The PostgreSQL column type for an Avro field type (nullable unions by their other branch). */
function pgType(label: string): string {
  const branches = label.split(' | ').filter((b) => b !== 'null');
  if (branches.length !== 1) return 'jsonb';
  const t = branches[0]!;
  if (t.includes('timestamp')) return 'timestamptz';
  const map: Record<string, string> = { double: 'double precision', float: 'real', long: 'bigint', int: 'integer', string: 'text', boolean: 'boolean',
    'array<string>': 'text[]', bytes: 'bytea' };
  return map[t] ?? (/^[A-Z]/.test(t) ? 'text' : 'jsonb'); // an enum is text
}

/** What each sink does with the top-level field changes of a contract. */
export function sinkImpact(contract: Contract, changes: readonly SchemaChange[]): string[] {
  const sinks = contract.contract ? storedFields[contract.contract] ?? [] : [];
  const top = recordFullName(contract.json)?.split('.').pop();
  const fieldChanges = changes.filter((c): c is Extract<SchemaChange, { field: string }> => 'field' in c && c.record === top);
  const out: string[] = [];
  if (sinks.length === 0) {
    if (fieldChanges.length) out.push('no sink is known to read this contract');
    return out;
  }
  for (const c of fieldChanges) {
    for (const s of sinks) {
      const held = s.fields[c.field];
      if (c.kind === 'field-added') {
        if (held !== undefined) out.push(`${s.sink}: writes ${c.field} to ${s.where} as ${held}`);
        else if (s.table)
          out.push(`${s.sink}: column to add: ${s.table}.${snake(c.field)} ${pgType(c.type)}${c.type.split(' | ').includes('null') ? ', nullable' : ''} (a ` +
          `migration in lib/stores/migrations, and the write in consumers/); until then it ignores ${c.field}`);
        else out.push(`${s.sink}: ignores ${c.field} (keeps ${Object.keys(s.fields).join(', ')} in ${s.where})`);
      } else if (held === undefined) {
        continue; // a change to a field the sink does not keep means nothing to it
      } else if (c.kind === 'field-removed') {
        out.push(`${s.sink}: stops getting ${c.field}; ${s.table
          ? `column ${s.table}.${held} gets nothing from new records (it needs a default or to be nullable)` : `${held} in ${s.where} keeps its last value`}`);
      } else if (c.kind === 'type-changed') {
        out.push(`${s.sink}: ${c.field} is now ${c.to}${s.table
          ? `; column ${s.table}.${held} may need ALTER COLUMN ${held} TYPE ${pgType(c.to)}` : ` in ${s.where} (${held})`}`);
      }
    }
  }
  return out;
}

/** A check as text: verdict, differences, registry reasons, sink impact. */
export function formatCheck(r: ContractCheck): string {
  const head = `${path.relative(process.cwd(), r.contract.file) || r.contract.file} → ${r.contract.subject} (${r.level})`;
  const lines: string[] = [];
  if (!r.latest) {
    lines.push(`${head}: compatible; nothing registered yet`);
  } else {
    lines.push(`${head}: ${r.compatible ? 'compatible' : 'INCOMPATIBLE'} with version ${r.latest.version} (schema id ${r.latest.id})`);
    if (r.changes.length === 0) lines.push('  no difference from the registered version');
    for (const c of r.changes) lines.push(`  ${breaksBackward(c) && !r.compatible ? '✗' : '-'} ${describeChange(c)}`);
    for (const m of r.messages) lines.push(`  registry: ${m}`);
  }
  if (r.impact.length) {
    lines.push('  sinks:');
    for (const i of r.impact) lines.push(`    ${i}`);
  }
  return `${lines.join('\n')}\n`;
}
