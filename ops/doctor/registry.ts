// The Schema Registry (Confluent REST API: Confluent or AxonOps): does it answer, which version it reports
// (GET /v1/metadata/version; a registry built without a version stamp, as the local stack's AxonOps build, says `dev`),
// the global compatibility (GET /config), and per subject of our topics (`<topic>-value`): registered versions and
// compatibility (GET /config/<subject>?defaultToGlobal=true). BACKWARD (or BACKWARD_TRANSITIVE) is what the
// producers set and expect; anything else is a warning.
import type { Config } from '../../lib/config.ts';
import { maskSecrets } from '../../lib/logger.ts';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../../lib/schema-registry-client.ts';
import { configuredTopics } from '../../topics/index.ts';
import { serverFailure, type ServerCheckOptions, type ServerTarget } from './servers.ts';
import type { Check } from './types.ts';
import { localServerAt, settle, urlAddress } from './util.ts';

const EXPECTED_COMPATIBILITY = ['BACKWARD', 'BACKWARD_TRANSITIVE'];

/** fetch's own errors say only "fetch failed"; the cause has the errno (ECONNREFUSED, ENOTFOUND, …). */
function fetchFailure(err: unknown): string {
  const e = err as { name?: unknown; cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'HTTP request timed out';
  const code = e?.cause?.code ?? e?.cause?.errors?.[0]?.code;
  if (typeof code === 'string' && /^[\w.-]{1,100}$/.test(code)) return `HTTP request failed (${code})`;
  const message = (e?.cause as { message?: unknown } | undefined)?.message ?? (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.length <= 120 ? `HTTP request failed: ${maskSecrets(message)}` : 'HTTP request failed';
}

const levelOf = (body: unknown): string | undefined => {
  const b = body as { compatibilityLevel?: unknown; compatibility?: unknown } | null;
  const v = b?.compatibilityLevel ?? b?.compatibility;
  return typeof v === 'string' ? v.toUpperCase() : undefined;
};

export interface RegistryFindings { server: Check; subjects: Check[] }

export async function checkRegistry(config: Config, o: ServerCheckOptions): Promise<RegistryFindings> {
  const started = Date.now();
  // The serde's own client: the same address, basic auth from SCHEMA_REGISTRY_USERNAME or from the URL, a time limit.
  const registry = createSchemaRegistryClient(config, { timeoutMs: o.timeoutMs });
  const where = registry.where;
  const t: ServerTarget = {
    id: 'schema-registry', name: 'Schema Registry', variable: 'SCHEMA_REGISTRY_URL', where,
    local: localServerAt(o.localStack, 'schema-registry', [urlAddress(config.SCHEMA_REGISTRY_URL, config.SCHEMA_REGISTRY_URL.startsWith('https') ? 443 : 80)]),
  };
  const subjectsSkipped = (why: string): Check[] => [{
    id: 'subjects', section: 'registry', name: 'subjects', status: 'skip', summary: `not checked: ${why}`, ms: 0,
  }];

  const s = await settle(Promise.all([registry.answer('GET', '/config'), registry.answer('GET', '/v1/metadata/version')]), o.timeoutMs);
  const ms = Date.now() - started;
  if (!s.ok) return { server: serverFailure(t, s, o.timeoutMs, ms, { what: s.timedOut ? undefined : fetchFailure(s.error) }),
    subjects: subjectsSkipped('the Schema Registry does not answer') };
  const [global, meta] = s.value;
  if (global.status === 401 || global.status === 403) {
    return {
      server: {
        id: 'server.schema-registry', section: 'servers', name: t.name, status: 'fail', summary: `${where}: answered ${global.status} to GET /config`,
        hint: 'the registry refused SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD: fix them', data: { address: where, status: global.status }, ms,
      },
      subjects: subjectsSkipped('the Schema Registry refused our credentials'),
    };
  }
  if (global.status !== 200) {
    return {
      server: {
        id: 'server.schema-registry', section: 'servers', name: t.name, status: 'fail', summary: `${where}: answered ${global.status} to GET /config`,
        hint: `is ${where} a Confluent-compatible Schema Registry? Point SCHEMA_REGISTRY_URL at one`, data: { address: where, status: global.status }, ms,
      },
      subjects: subjectsSkipped('the Schema Registry does not answer as one'),
    };
  }

  // The version it reports; `dev` (AxonOps built without a version stamp) tells nothing, then the local stack's build does.
  const reported = meta.status === 200 ? (meta.body as { version?: unknown } | null)?.version : undefined;
  const reportedVersion = typeof reported === 'string' && reported ? reported : undefined;
  const stamped = reportedVersion && reportedVersion !== 'dev' && reportedVersion !== 'unknown' ? reportedVersion : undefined;
  let version: string;
  let about: string;
  if (stamped) {
    version = stamped;
    about = `version ${stamped}`;
  } else if (t.local?.running) {
    version = t.local.version;
    about = `${t.local.product} (the local stack's build; the registry itself reports ${reportedVersion ? `version "${reportedVersion}"` : 'no version'})`;
  } else {
    version = 'unknown';
    about = meta.status === 200 ? `version not readable (GET /v1/metadata/version says "${reportedVersion ?? ''}")`
      : `version not readable (GET /v1/metadata/version answered ${meta.status})`;
  }
  const globalLevel = levelOf(global.body) ?? 'unknown';
  const server: Check = {
    id: 'server.schema-registry', section: 'servers', name: t.name, status: 'ok', version,
    summary: `${about} at ${where}, global compatibility ${globalLevel}`,
    data: { address: where, version, reportedVersion: reportedVersion ?? null, globalCompatibility: globalLevel }, ms,
  };

  const subjects = await Promise.all(configuredTopics(config).map((topic) => checkSubject(registry, topic.subject, topic.name, o.timeoutMs)));
  return { server, subjects };
}

async function checkSubject(registry: SchemaRegistryClient, subject: string, topic: string, timeoutMs: number): Promise<Check> {
  const started = Date.now();
  const id = `subject.${subject}`;
  const enc = encodeURIComponent(subject);
  const s = await settle(Promise.all([
    registry.answer('GET', `/subjects/${enc}/versions`),
    registry.answer('GET', `/config/${enc}?defaultToGlobal=true`),
    registry.answer('GET', `/config/${enc}`),
  ]), timeoutMs);
  const ms = Date.now() - started;
  if (!s.ok) {
    return { id, section: 'registry', name: subject, status: 'fail', summary: s.timedOut ? `no answer within ${timeoutMs} ms` : 'the registry did not answer',
      hint: 'see the Schema Registry line above', ms };
  }
  const [versions, effective, own] = s.value;
  const level = levelOf(effective.body) ?? 'unknown';
  // 404 (error 40408) without defaultToGlobal: the subject has no level of its own and follows the global one.
  const source = own.status === 200 && levelOf(own.body) ? 'subject' : 'global';
  if (versions.status === 404) {
    return {
      id, section: 'registry', name: subject, status: 'warn', summary: `not registered yet (compatibility would be ${level}, ${source})`,
      hint: `the first producer of ${topic} registers it (with BACKWARD): e.g. \`marketstream produce …\` or \`marketstream demo\``,
      data: { registered: false, versions: 0, compatibility: level, compatibilitySource: source }, ms,
    };
  }
  if (versions.status !== 200 || !Array.isArray(versions.body)) {
    return { id, section: 'registry', name: subject, status: 'fail', summary: `GET /subjects/${subject}/versions answered ${versions.status}`,
      hint: 'see the Schema Registry line above', ms };
  }
  const count = versions.body.length;
  const latest = count ? Math.max(...versions.body.map(Number)) : null;
  const data = { registered: true, versions: count, latest, compatibility: level, compatibilitySource: source };
  const summary = `${count} version${count === 1 ? '' : 's'}${latest !== null ? ` (latest ${latest})` : ''}, compatibility ${level} (${source})`;
  if (!EXPECTED_COMPATIBILITY.includes(level)) {
    return {
      id, section: 'registry', name: subject, status: 'warn', summary,
      hint: `marketstream's schemas evolve under BACKWARD compatibility; set it: curl -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' `
        + `--data '{"compatibility":"BACKWARD"}' ${registry.where.replace(/\/+$/, '')}/config/${enc}`,
      data, ms,
    };
  }
  return { id, section: 'registry', name: subject, status: 'ok', summary, data, ms };
}
