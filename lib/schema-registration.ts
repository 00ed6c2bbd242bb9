// Value schemas into the Schema Registry: registering one under its subject (BACKWARD unless the subject has its own
// level), or only finding the id it was registered with. Producers do the first on first use while
// SCHEMA_AUTO_REGISTER is true (development); with it false (production, as Confluent recommends) they only look the id
// up, and `marketstream schema register` is the one step that registers.
import { COMPATIBILITY, type SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Config } from './config.ts';
import { errorMessage, MarketstreamError, RegistryHttpError, SchemaRejectedError, TransientError } from './errors.ts';
import { createSchemaRegistryClient, registryStatus, type SchemaRegistryClient } from './schema-registry-client.ts';

export interface SchemaRegistration {
  /** Registers `schema` (Avro JSON text) under `subject`; its id (the same id again when it is registered already). */
  register(subject: string, schema: string): Promise<number>;
  /** The id `schema` was registered with under `subject`; SchemaRejectedError when it is not registered there. */
  lookup(subject: string, schema: string): Promise<number>;
  /** register() when SCHEMA_AUTO_REGISTER is true, else lookup(). */
  idFor(subject: string, schema: string): Promise<number>;
}

export function createSchemaRegistration(config: Config, rest: SchemaRegistryClient = createSchemaRegistryClient(config)): SchemaRegistration {
  let client: SchemaRegistry | undefined;
  const registry = () => client ??= rest.confluent({ clientId: 'marketstream', retries: 2 });
  const self: SchemaRegistration = {
    register: (subject, schema) => register(rest, registry(), subject, schema),
    lookup: (subject, schema) => lookup(rest, subject, schema),
    idFor: (subject, schema) => (config.SCHEMA_AUTO_REGISTER ? self.register(subject, schema) : self.lookup(subject, schema)),
  };
  return self;
}

/** Registers a schema under a subject whose compatibility is BACKWARD (set if the subject has no level of its own). */
async function register(rest: SchemaRegistryClient, registry: SchemaRegistry, subject: string, schema: string): Promise<number> {
  try {
    const level = await rest.ensureSubjectCompatibility(subject, COMPATIBILITY.BACKWARD);
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema },
      { subject, compatibility: level as COMPATIBILITY, updateConfig: false },
    );
    return id;
  } catch (err) {
    if (err instanceof MarketstreamError) throw err;
    const status = registryStatus(err);
    if (status === 409) throw new SchemaRejectedError(`schema for ${subject} is incompatible with its earlier versions: ${errorMessage(err)}`, err);
    if (status === 422) throw new SchemaRejectedError(`schema for ${subject} is invalid: ${errorMessage(err)}`, err);
    if (status === 401 || status === 403) throw new SchemaRejectedError(`schema registry refused access (${status}); check SCHEMA_REGISTRY_USERNAME/PASSWORD`,
      err);
    if (status === undefined && !isNetworkError(err)) throw new SchemaRejectedError(`schema for ${subject} not registered: ${errorMessage(err)}`, err);
    throw new TransientError(`schema registry unavailable while registering ${subject}: ${errorMessage(err)}`, err);
  }
}

/** POST /subjects/<subject>: the id of a schema registered under the subject, registering nothing. */
async function lookup(rest: SchemaRegistryClient, subject: string, schema: string): Promise<number> {
  let body: { id?: unknown } | null;
  try {
    body = await rest.request('POST', `/subjects/${encodeURIComponent(subject)}`, { schema }) as typeof body;
  } catch (err) {
    if (!(err instanceof RegistryHttpError))
      throw new TransientError(`schema registry unreachable while looking up the schema of ${subject}: ${errorMessage(err)}`, err);
    if (err.status === 404) {
      throw new SchemaRejectedError(`the value schema of ${subject} is not registered, and producers do not register schemas (SCHEMA_AUTO_REGISTER=false): `
        + `register it first with \`marketstream schema register\` (registry: ${errorMessage(err)})`, err);
    }
    if (err.status === 401 || err.status === 403)
      throw new SchemaRejectedError(`schema registry refused access (${err.status}); check SCHEMA_REGISTRY_USERNAME/PASSWORD`, err);
    if (err.retriable) throw new TransientError(`schema registry failed while looking up the schema of ${subject}: ${errorMessage(err)}`, err);
    throw new SchemaRejectedError(`schema for ${subject} cannot be looked up: ${errorMessage(err)}`, err);
  }
  if (typeof body?.id !== 'number') throw new TransientError(`schema registry answered the lookup of ${subject} without an id`);
  return body.id;
}

/** Network failures reach us from mappersmith as "status 400" responses whose message names the socket error. */
function isNetworkError(err: unknown): boolean {
  return /ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|socket hang up|timeout|fetch failed/i.test(errorMessage(err));
}
