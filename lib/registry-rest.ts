// The few Schema Registry REST calls the registry client does not offer (subject compatibility), with the same
// URL and basic auth from configuration. Confluent REST API; works with Confluent and AxonOps registries.
import type { Config } from './config.ts';
import { RegistryHttpError } from './errors.ts';

export interface RegistryRest {
  /** GET/PUT/DELETE a registry path; resolves to the JSON body (null when empty), throws RegistryHttpError on non-2xx. */
  request(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown>;
  /** The subject's own compatibility level; sets `level` first if the subject has none. */
  ensureSubjectCompatibility(subject: string, level: string): Promise<string>;
}

export function createRegistryRest(config: Config): RegistryRest {
  const base = config.SCHEMA_REGISTRY_URL.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (config.SCHEMA_REGISTRY_USERNAME) {
    const token = Buffer.from(`${config.SCHEMA_REGISTRY_USERNAME}:${config.SCHEMA_REGISTRY_PASSWORD}`).toString('base64');
    headers.authorization = `Basic ${token}`;
  }

  async function request(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let json: unknown = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    if (!res.ok) {
      const message = (json as { message?: string } | null)?.message ?? text;
      throw new RegistryHttpError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return json;
  }

  return {
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
  };
}

/** HTTP status of a registry failure (registry client ResponseError or RegistryHttpError), if it has one. */
export function registryStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
