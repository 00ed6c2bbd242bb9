// One Schema Registry client for everything that talks to the registry (lib/schema-registry-client.ts): a registry
// that demands basic auth is reached with the credentials in SCHEMA_REGISTRY_URL (http://user:pass@host) or in
// SCHEMA_REGISTRY_USERNAME / PASSWORD alike, by the serde (registration, lookup, decoding), `doctor`, `schema` and the
// decoder `explain` and `inspect` use, and the stack probe; so doctor cannot pass while the serde fails. The registry
// is the real one behind a proxy that answers 401 without the right credentials. The password is in no error text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, errorMessage, isRetriable, TransientError } from '../../lib/errors.ts';
import { registryStatus } from '../../lib/schema-registry-client.ts';
import { createSerde } from '../../lib/serde.ts';
import { checkRegistry } from '../../ops/doctor/registry.ts';
import { createRecordDecoder } from '../../ops/inspect/decode.ts';
import { checkContracts, resolveContracts } from '../../ops/schema.ts';
import { probeRegistry } from '../../stack/probes.ts';
import type { PriceUpdate } from '../../schemas/types.generated.ts';
import { priceUpdates, withName } from '../../topics/index.ts';
import { startBasicAuthProxy, type BasicAuthProxy } from '../helpers/basic-auth-proxy.ts';
import { randomName, testConfig } from '../helpers/index.ts';

const base = testConfig();
const user = 'reg-user';
const password = `pa:ss@${randomName('w').replace(/-/g, '')}`; // a ':' and an '@': URL-encoded in the URL
const price: PriceUpdate = {
  symbol: 'AAPL', interval: '1m', eventTime: 1_767_625_200_000, open: 190.1, high: 191, low: 189.5, close: 190.7, volume: 12_345,
  source: 'synthetic', ingestTime: 1_767_625_260_000, quality: 1, vwap: null, trades: null, final: null, adjusted: null,
};
const cacheDir = mkdtempSync(path.join(tmpdir(), 'registry-auth-'));
let proxy: BasicAuthProxy;

beforeAll(async () => { proxy = await startBasicAuthProxy(base.SCHEMA_REGISTRY_URL, { username: user, password }); });
afterAll(async () => {
  await proxy.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

const at = (userinfo: string) => `http://${userinfo}127.0.0.1:${proxy.port}`;
const inUrl = () => testConfig({ SCHEMA_REGISTRY_URL: at(`${user}:${encodeURIComponent(password)}@`), SCHEMA_CACHE_DIR: cacheDir });
const inVariables = () => testConfig({
  SCHEMA_REGISTRY_URL: at(''), SCHEMA_REGISTRY_USERNAME: user, SCHEMA_REGISTRY_PASSWORD: password, SCHEMA_CACHE_DIR: cacheDir,
});
const wrong = () => testConfig({ SCHEMA_REGISTRY_URL: at(`${user}:wrong-password@`), SCHEMA_CACHE_DIR: cacheDir });

/** No form of the password in a text. */
const leaks = (text: string) => [password, encodeURIComponent(password), Buffer.from(`${user}:${password}`).toString('base64')].some((p) => text.includes(p));

describe.each([['in the URL', inUrl], ['in SCHEMA_REGISTRY_USERNAME / PASSWORD', inVariables]])('a registry with basic auth, credentials %s', (_, config) => {
  it('the serde registers, looks up and decodes through it', async () => {
    const topic = withName(priceUpdates, randomName('test-registry-auth'));
    const refusedBefore = proxy.refused;
    const passedBefore = proxy.passed;
    const bytes = await createSerde(config()).encode(topic, price); // registers (BACKWARD) through the Confluent client
    const id = bytes.readInt32BE(1);
    expect(await createSerde({ ...config(), SCHEMA_AUTO_REGISTER: false }).schemaId(topic)).toBe(id); // lookup (REST)
    expect(await createSerde(config()).decode(topic, bytes)).toEqual({ value: price, schemaId: id }); // writer schema by id
    expect(proxy.refused).toBe(refusedBefore);
    expect(proxy.passed).toBeGreaterThan(passedBefore);
  });

  it('doctor, schema check, the explain/inspect decoder and the stack probe pass through it', async () => {
    const topic = withName(priceUpdates, randomName('test-registry-auth'));
    const cfg = { ...config(), PRICE_UPDATES_TOPIC: topic.name };
    const bytes = await createSerde(cfg).encode(topic, price);
    const refusedBefore = proxy.refused;

    const doctor = await checkRegistry(cfg, { timeoutMs: 5000 });
    expect(doctor.server.status, doctor.server.summary).toBe('ok');
    expect(doctor.subjects.find((s) => s.name === topic.subject)).toMatchObject({ status: 'ok', data: { registered: true, versions: 1 } });
    expect(leaks(JSON.stringify(doctor))).toBe(false);

    const [check] = await checkContracts(cfg, resolveContracts(cfg, []).filter((c) => c.subject === topic.subject));
    expect(check).toMatchObject({ compatible: true, latest: { version: 1, id: bytes.readInt32BE(1) } });

    expect(await createRecordDecoder(cfg).decode(topic.name, bytes)).toMatchObject({
      kind: 'avro', schema: { id: bytes.readInt32BE(1), subject: topic.subject, version: 1 }, value: { symbol: 'AAPL', close: 190.7 },
    });
    expect(await probeRegistry(cfg.SCHEMA_REGISTRY_URL, { username: cfg.SCHEMA_REGISTRY_USERNAME, password: cfg.SCHEMA_REGISTRY_PASSWORD })).toBe(true);
    expect(proxy.refused).toBe(refusedBefore);
  });
});

describe('a registry with basic auth, wrong credentials in the URL', () => {
  it('doctor fails with 401, the serde stops registering and retries decoding; no text carries the password', async () => {
    const topic = withName(priceUpdates, randomName('test-registry-auth'));
    const bytes = await createSerde(inUrl()).encode(topic, price);
    const refusedBefore = proxy.refused;

    const doctor = await checkRegistry(wrong(), { timeoutMs: 5000 });
    expect(doctor.server).toMatchObject({ status: 'fail', data: { status: 401 } });
    expect(doctor.subjects).toMatchObject([{ status: 'skip' }]);

    const registering = await createSerde(wrong()).encode(withName(priceUpdates, randomName('test-registry-auth')), price).catch((e: unknown) => e);
    expect(registryStatus(registering)).toBe(401); // the registry's refusal, not a network failure
    expect(isRetriable(registering)).toBe(false); // a producer stops on it instead of retrying for ever
    const nothingCached = { ...wrong(), SCHEMA_CACHE_DIR: mkdtempSync(path.join(cacheDir, 'empty-')) };
    const decoding = await createSerde(nothingCached).decode(topic, bytes).catch((e: unknown) => e);
    expect(decoding).toBeInstanceOf(TransientError); // a registry refusing us is down for us: the group pauses, never dead-letters
    expect(await probeRegistry(wrong().SCHEMA_REGISTRY_URL)).toBe(false);
    expect(proxy.refused).toBeGreaterThan(refusedBefore);

    const texts = [JSON.stringify(doctor), errorMessage(registering), describeError(registering), errorMessage(decoding), describeError(decoding)];
    for (const text of texts) expect(leaks(text), text).toBe(false);
  });
});
