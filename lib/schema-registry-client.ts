// The one Schema Registry client (Confluent REST API: Confluent or AxonOps registries), used by the serde, schema
// registration, `schema`, `doctor`, `explain`/`inspect` and the stack probes alike, so what one of them reaches the
// others reach too. Credentials come from SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD, or else from the URL
// itself (https://user:password@host): fetch refuses a URL with credentials in it (and its error would quote them),
// so they are taken out of the URL and sent as basic auth. The address is only ever shown masked (`where`).
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Config } from './config.ts';
import { RegistryHttpError } from './errors.ts';
import { maskSecrets } from './logger.ts';
import { avroOptions } from '../schemas/avro.ts';

export type RegistryConfig = Pick<Config, 'SCHEMA_REGISTRY_URL' | 'SCHEMA_REGISTRY_USERNAME' | 'SCHEMA_REGISTRY_PASSWORD'>;
type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** Any HTTP answer of the registry: its status and its body (JSON when it parses, else the text; null when empty). */
export interface RegistryAnswer { status: number; body: unknown }

export interface SchemaRegistryClient {
  /** The registry's address as shown to people: its password masked. */
  readonly where: string;
  /** A registry path (`/config`, `/subjects/…`) with any HTTP answer; rejects only when none came (network, timeout). */
  answer(method: Method, path: string, body?: unknown): Promise<RegistryAnswer>;
  /** A registry path's JSON body (null when empty); RegistryHttpError on a non-2xx answer. */
  request(method: Method, path: string, body?: unknown): Promise<unknown>;
  /** The subject's own compatibility level; sets `level` first if the subject has none. */
  ensureSubjectCompatibility(subject: string, level: string): Promise<string>;
  /** @kafkajs/confluent-schema-registry's client at the same address with the same credentials (Avro as ours). */
  confluent(o: { clientId: string; retries: number }): SchemaRegistry;
}

/** The registry's URL without credentials, and the credentials: the configured user first, else the URL's own. */
export function registryEndpoint(config: RegistryConfig): { url: string; auth?: { username: string; password: string } } {
  const url = new URL(config.SCHEMA_REGISTRY_URL);
  const username = config.SCHEMA_REGISTRY_USERNAME || decodeURIComponent(url.username);
  const password = config.SCHEMA_REGISTRY_USERNAME ? config.SCHEMA_REGISTRY_PASSWORD : decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url: url.href.replace(/\/+$/, ''), auth: username ? { username, password } : undefined };
}

export function createSchemaRegistryClient(config: RegistryConfig, opts: { timeoutMs?: number } = {}): SchemaRegistryClient {
  const { url: base, auth } = registryEndpoint(config);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;

  async function call(method: Method, path: string, body?: unknown): Promise<RegistryAnswer & { text: string }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: unknown = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: res.status, body: json, text };
  }

  async function request(method: Method, path: string, body?: unknown): Promise<unknown> {
    const res = await call(method, path, body);
    if (res.status < 200 || res.status >= 300) {
      const message = (res.body as { message?: string } | null)?.message ?? res.text;
      throw new RegistryHttpError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return res.body;
  }

  return {
    where: maskSecrets(config.SCHEMA_REGISTRY_URL),
    answer: async (method, path, body) => {
      const { status, body: json } = await call(method, path, body);
      return { status, body: json };
    },
    request,
    async ensureSubjectCompatibility(subject, level) {
      const path = `/config/${encodeURIComponent(subject)}`;
      try {
        const got = await request('GET', `${path}?defaultToGlobal=false`) as { compatibilityLevel?: string; compatibility?: string } | null;
        const current = got?.compatibilityLevel ?? got?.compatibility;
        if (current) return current.toUpperCase();
      } catch (err) {
        if (!(err instanceof RegistryHttpError && err.status === 404)) throw err;
      }
      await request('PUT', path, { compatibility: level });
      return level;
    },
    confluent: ({ clientId, retries }) => new SchemaRegistry({ host: base, auth, clientId, retry: { retries } }, { [SchemaType.AVRO]: avroOptions() }),
  };
}

/** HTTP status of a registry failure (registry client ResponseError or RegistryHttpError), if it has one. */
export function registryStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
