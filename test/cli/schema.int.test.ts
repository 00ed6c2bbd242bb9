// `marketstream schema check|register` as a user runs them, against the real Schema Registry, on a random subject:
// a compatible change exits 0 with the difference in words and the sink impact; an incompatible one (a new field
// without a default) exits 1 naming the field, and register refuses it with the registry's reason. With no file, check
// takes the four contracts in schemas/ (the price contract's subject named by PRICE_UPDATES_TOPIC).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import { loadSchema } from '../../schemas/avro.ts';
import { priceUpdates } from '../../topics/index.ts';
import { randomName, testConfig } from '../helpers/index.ts';
import { startCli } from './cli-process.ts';

const rest = createSchemaRegistryClient(testConfig());
const subject = `${randomName('test-schema-check')}-value`;
const tmp = mkdtempSync(path.join(tmpdir(), 'schema-check-'));
const subjects = [subject];
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  for (const s of subjects) {
    await rest.request('DELETE', `/subjects/${s}`).catch(() => {});
    await rest.request('DELETE', `/subjects/${s}?permanent=true`).catch(() => {});
  }
});

/** The price-update contract with its fields changed, written to a temp file. */
function contract(name: string, change: (fields: Record<string, unknown>[]) => Record<string, unknown>[]): string {
  const json = structuredClone(loadSchema(priceUpdates.schemaFile).json) as { fields: Record<string, unknown>[] };
  json.fields = change(json.fields);
  const file = path.join(tmp, `${name}.avsc`);
  writeFileSync(file, JSON.stringify(json, null, 2));
  return file;
}

async function run(...args: string[]): Promise<{ code: number | null; out: string }> {
  const cli = startCli(args, { LOG_LEVEL: 'warn' });
  const { code } = await cli.exited;
  return { code, out: cli.output() };
}

/** The CLI's exit code and its stdout alone (logs go to stderr). */
function stdoutOf(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/marketstream.js', ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } }, (err, stdout) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout });
    });
  });
}

describe('marketstream schema', () => {
  const v1 = contract('v1', (fields) => fields.filter((f) => f.name !== 'vwap' && f.name !== 'trades'));
  const current = loadSchema(priceUpdates.schemaFile).file;

  it('register, then check: compatible changes exit 0 with the difference and what each sink does; an incompatible one exits 1 naming the field', async () => {
    const registered = await run('schema', 'register', v1, '--subject', subject);
    expect(registered.out).toMatch(new RegExp(`registered ${subject}: version 1, schema id \\d+`));
    expect(registered.code).toBe(0);

    // the current contract (version 2) against version 1
    const ok = await run('schema', 'check', current, '--subject', subject);
    expect(ok.out).toContain(`→ ${subject} (BACKWARD): compatible with version 1`);
    expect(ok.out).toContain('field PriceUpdate.vwap added (null | double, default null)');
    expect(ok.out).toContain('field PriceUpdate.trades added (null | long, default null)');
    expect(ok.out).toContain('postgres-sink: writes vwap to table price_data as vwap');
    expect(ok.out).toContain('neo4j-sink: writes trades to (:Company:Stock) node as last_trades');
    expect(ok.code).toBe(0);

    // a field no sink knows yet: a PostgreSQL column to add, ignored by the others
    const venue = contract('venue', (fields) => [...fields, { name: 'venue', type: ['null', 'string'], default: null }]);
    const unknown = await run('schema', 'check', venue, '--subject', subject);
    expect(unknown.out).toContain('postgres-sink: column to add: price_data.venue text, nullable');
    expect(unknown.out).toMatch(/redis-sink: ignores venue/);
    expect(unknown.out).toMatch(/neo4j-sink: ignores venue/);
    expect(unknown.code).toBe(0);

    // a new field without a default: incompatible, named by the diff and by the registry
    const bad = contract('bad', (fields) => [...fields, { name: 'currency', type: 'string' }]);
    const refused = await run('schema', 'check', bad, '--subject', subject);
    expect(refused.out).toContain(`→ ${subject} (BACKWARD): INCOMPATIBLE with version 1`);
    expect(refused.out).toContain('✗ field PriceUpdate.currency added (string) WITHOUT a default');
    expect(refused.out).toMatch(/registry: .*currency/);
    expect(refused.code).toBe(1);

    const notRegistered = await run('schema', 'register', bad, '--subject', subject);
    expect(notRegistered.out).toMatch(/schema register failed: .*incompatible.*currency/is);
    expect(notRegistered.code).toBe(1);
    expect(await rest.request('GET', `/subjects/${subject}/versions`)).toEqual([1]);
  });

  it('a file that is none of the contracts needs --subject', async () => {
    const other = path.join(tmp, 'other.avsc');
    writeFileSync(other, JSON.stringify({ type: 'record', name: 'Other', namespace: 'x', fields: [{ name: 'a', type: 'string' }] }));
    const r = await run('schema', 'check', other);
    expect(r.out).toMatch(/its record x\.Other is none of the contracts .*--subject/);
    expect(r.code).toBe(1);
  });

  it('with no file checks the four contracts in schemas/ under their configured subjects; exit 1 when one is incompatible', async () => {
    // PRICE_UPDATES_TOPIC names the price contract's subject; market-events and graph-mutations keep theirs.
    const check = async (registered: Record<string, unknown>[]) => {
      const topic = randomName('test-schema-default');
      subjects.push(`${topic}-value`);
      const json = { ...(loadSchema(priceUpdates.schemaFile).json as object), fields: registered };
      await rest.ensureSubjectCompatibility(`${topic}-value`, 'BACKWARD');
      await rest.request('POST', `/subjects/${topic}-value/versions`, { schema: JSON.stringify(json) });
      const r = await stdoutOf({ PRICE_UPDATES_TOPIC: topic }, 'schema', 'check', '--json');
      const results = JSON.parse(r.stdout) as Array<{
        contract: { file: string; subject: string }; compatible: boolean; latest: { version: number } | null; changes: Array<{ kind: string; field?: string }>;
      }>;
      return { code: r.code, topic, results };
    };
    const fields = (loadSchema(priceUpdates.schemaFile).json as unknown as { fields: Record<string, unknown>[] }).fields;
    const expectAll = (results: Awaited<ReturnType<typeof check>>['results'], topic: string) => {
      expect(results.map((x) => [path.relative(process.cwd(), x.contract.file), x.contract.subject])).toEqual([
        ['schemas/price-update.avsc', `${topic}-value`], ['schemas/market-event.avsc', 'market-events-value'],
        ['schemas/graph-mutation.avsc', 'graph-mutations-value'], ['schemas/price-features.avsc', 'price-features-value'],
      ]);
      expect(results.slice(1).map((x) => x.compatible)).toEqual([true, true, true]);
    };

    const compatible = await check(fields.filter((f) => f.name !== 'vwap' && f.name !== 'trades'));
    expectAll(compatible.results, compatible.topic);
    expect(compatible.results[0]).toMatchObject({ compatible: true, latest: { version: 1 } });
    expect(compatible.results[0]!.changes.map((c) => [c.kind, c.field])).toEqual([['field-added', 'vwap'], ['field-added', 'trades']]);
    expect(compatible.code).toBe(0);

    // Registered without `source`: the contract adds it with no default, so it cannot read what was written before.
    const incompatible = await check(fields.filter((f) => f.name !== 'source'));
    expectAll(incompatible.results, incompatible.topic);
    expect(incompatible.results[0]).toMatchObject({ compatible: false, latest: { version: 1 } });
    expect(incompatible.results[0]!.changes.filter((c) => c.field).map((c) => [c.kind, c.field])).toEqual([['field-added', 'source']]); // (and its enum type)
    expect(incompatible.code).toBe(1);
  });
});
