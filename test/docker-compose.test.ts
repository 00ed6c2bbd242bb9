// docker-compose.kafka.yml must agree with the defaults in lib/config.ts: same host ports and credentials,
// so the same configuration works against the Docker setup and the local stack. It must also stay closed (every
// port published on the host's loopback only) and current (every image pinned to an exact, recent version).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSpec } from '../lib/config.ts';
import { projectRoot } from '../stack/paths.ts';
import { KAFKA_VERSION } from '../stack/services/kafka.ts';
import { NEO4J_VERSION } from '../stack/services/neo4j.ts';

/** A `ports` entry: short syntax ("[IP:][HOST:]CONTAINER[/PROTO]") or long syntax. */
type PortSpec = string | number | { target: number; published?: string | number; host_ip?: string; protocol?: string };
interface Service {
  image?: string;
  ports?: PortSpec[];
  environment?: Record<string, string | number>;
  healthcheck?: { test: unknown };
  profiles?: string[];
  build?: unknown;
  network_mode?: string;
}
const compose = parse(readFileSync(join(projectRoot, 'docker-compose.kafka.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;

/** The host address, host port and container port a `ports` entry publishes (address undefined: every interface). */
function published(spec: PortSpec): { address: string | undefined; host: number | undefined; container: number } {
  if (typeof spec === 'object') {
    return { address: spec.host_ip, host: spec.published === undefined ? undefined : Number(spec.published), container: spec.target };
  }
  let rest = String(spec).replace(/\/(tcp|udp|sctp)$/, '');
  let address: string | undefined;
  // An IPv6 address is bracketed: "[::1]:8080:80".
  const bracketed = /^(\[[^\]]+\]):(.*)$/.exec(rest);
  if (bracketed) {
    address = bracketed[1];
    rest = bracketed[2] ?? '';
  }
  const parts = rest.split(':');
  if (address === undefined && parts.length === 3) address = parts.shift();
  if (parts.length > 2 || !parts.every((p, i) => /^\d+$/.test(p) || (i === 0 && parts.length === 2 && p === ''))) {
    throw new Error(`unreadable port "${String(spec)}"`);
  }
  const container = Number(parts.at(-1));
  const host = parts.length === 2 && parts[0] !== '' ? Number(parts[0]) : undefined;
  return { address, host, container };
}

function hostPorts(name: string): number[] {
  return (services[name]?.ports ?? []).map((p) => published(p).host ?? Number.NaN);
}

/** The repository and tag of an image reference ("kafbat/kafka-ui:v1.5.0" -> kafbat/kafka-ui, v1.5.0). */
function imageOf(name: string): { repository: string; tag: string } {
  const image = services[name]?.image ?? '';
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? { repository: image.slice(0, at), tag: image.slice(at + 1) } : { repository: image, tag: '' };
}

/** "v1.5.0" / "8.3.2" / "5.26.18-community" -> [1, 5, 0] / [8, 3, 2] / [5, 26, 18]. */
function versionOf(tag: string): number[] {
  return (/^v?(\d+(?:\.\d+)*)/.exec(tag)?.[1] ?? '').split('.').filter(Boolean).map(Number);
}

function atLeast(version: number[], minimum: number[]): boolean {
  for (let i = 0; i < Math.max(version.length, minimum.length); i++) {
    const a = version[i] ?? 0;
    const b = minimum[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/**
 * Whether a tag names one exact release, not a moving one (`latest`, `7`, `7.9`, `5.26-community`): three version
 * numbers, or two for PostgreSQL, whose releases since 10 are MAJOR.MINOR (15.19 is one release; 15 is a series).
 * A digest (image@sha256:...) is exact too.
 */
function pinned(repository: string, tag: string, image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const numbers = repository === 'postgres' ? '\\d+\\.\\d+' : '\\d+\\.\\d+\\.\\d+';
  return new RegExp(`^v?${numbers}(-[A-Za-z0-9.]+)?$`).test(tag);
}
const url = (name: keyof typeof configSpec) => new URL(configSpec[name].default);

describe('docker-compose.kafka.yml', () => {
  it('publishes each server on the port the config defaults use', () => {
    const brokerPort = Number(configSpec.KAFKA_BROKERS.default.split(',')[0]?.split(':')[1]);
    expect(hostPorts('kafka')).toContain(brokerPort);
    expect(hostPorts('schema-registry')).toContain(Number(url('SCHEMA_REGISTRY_URL').port));
    expect(hostPorts('postgres')).toContain(Number(url('POSTGRES_URL').port));
    expect(hostPorts('redis')).toContain(Number(url('REDIS_URL').port));
    expect(hostPorts('neo4j')).toContain(Number(url('NEO4J_URL').port));
    expect(hostPorts('kafka-ui')).toContain(8080);
  });

  it('advertises the host listener at the default broker address', () => {
    const advertised = String(services.kafka?.environment?.KAFKA_ADVERTISED_LISTENERS);
    expect(advertised.split(',').map((l) => l.split('://')[1])).toContain(configSpec.KAFKA_BROKERS.default.split(',')[0]);
  });

  it('uses the credentials of the config defaults', () => {
    const pgUrl = url('POSTGRES_URL');
    const pgEnv = services.postgres?.environment ?? {};
    expect(pgEnv.POSTGRES_USER).toBe(decodeURIComponent(pgUrl.username));
    expect(pgEnv.POSTGRES_PASSWORD).toBe(decodeURIComponent(pgUrl.password));
    expect(pgEnv.POSTGRES_DB).toBe(pgUrl.pathname.slice(1));
    expect(services.neo4j?.environment?.NEO4J_AUTH).toBe(`${configSpec.NEO4J_USER.default}/${configSpec.NEO4J_PASSWORD.default}`);
  });

  it('runs the server versions the project targets, each with a health check', () => {
    // The same Kafka and Neo4j releases as the local stack, and the same PostgreSQL and Redis major versions.
    expect(services.kafka?.image).toBe(`apache/kafka:${KAFKA_VERSION}`);
    expect(services.neo4j?.image).toMatch(/^neo4j:5\.26\.\d+(-community)?$/);
    expect(versionOf(imageOf('neo4j').tag)).toEqual(versionOf(NEO4J_VERSION));
    expect(services.postgres?.image).toMatch(/^postgres:15\.\d+$/);
    expect(services.redis?.image).toMatch(/^redis:7\.\d+\.\d+$/);
    for (const name of ['kafka', 'schema-registry', 'kafka-ui', 'postgres', 'redis', 'neo4j', 'marketstream']) {
      expect(services[name]?.healthcheck?.test, `${name} health check`).toBeDefined();
    }
  });

  it('pins every image to an exact release', () => {
    const images = Object.entries(services).filter(([, s]) => s.image !== undefined);
    expect(images.map(([name]) => name)).toEqual(expect.arrayContaining(['kafka', 'schema-registry', 'kafka-ui', 'postgres', 'redis', 'neo4j']));
    for (const [name, s] of images) {
      const { repository, tag } = imageOf(name);
      expect(pinned(repository, tag, s.image as string), `${name}: ${s.image} is not an exact version`).toBe(true);
    }
    // The one service without an image is built from this repository.
    for (const [name, s] of Object.entries(services)) expect(s.image ?? s.build, `${name} has an image or a build`).toBeDefined();
  });

  it('runs a current kafka-ui and Schema Registry', () => {
    const ui = imageOf('kafka-ui');
    expect(ui.repository).toMatch(/^(ghcr\.io\/|docker\.io\/)?kafbat\/kafka-ui$/);
    expect(atLeast(versionOf(ui.tag), [1, 5, 0]), `kafka-ui ${ui.tag} is older than v1.5.0`).toBe(true);
    const registry = imageOf('schema-registry');
    expect(registry.repository).toBe('confluentinc/cp-schema-registry');
    expect(atLeast(versionOf(registry.tag), [7, 9, 0]), `cp-schema-registry ${registry.tag} is older than 7.9`).toBe(true);
    // Confluent's 8.x images have neither curl nor wget, so their health check cannot use them.
    if (atLeast(versionOf(registry.tag), [8])) {
      expect(JSON.stringify(services['schema-registry']?.healthcheck?.test)).not.toMatch(/\b(curl|wget)\b/);
    }
  });

  it('publishes every port on 127.0.0.1 only', () => {
    const all = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, spec: p, ...published(p) })));
    expect(all.length).toBeGreaterThan(0);
    for (const { name, spec, address, host } of all) {
      expect(address, `${name} publishes ${JSON.stringify(spec)} beyond the loopback interface`).toBe('127.0.0.1');
      // No host port means a random one; every server has the fixed port the config defaults expect.
      expect(host, `${name} publishes ${JSON.stringify(spec)} on a random host port`).toBeTypeOf('number');
    }
    // Host networking would put every container port on every host interface.
    for (const [name, s] of Object.entries(services)) expect(s.network_mode, `${name} network_mode`).not.toBe('host');
  });

  it('reads every form of port the bindings check relies on', () => {
    expect(published('9092:9092')).toEqual({ address: undefined, host: 9092, container: 9092 });
    expect(published('127.0.0.1:9092:9092')).toEqual({ address: '127.0.0.1', host: 9092, container: 9092 });
    expect(published('0.0.0.0:8080:80/tcp')).toEqual({ address: '0.0.0.0', host: 8080, container: 80 });
    expect(published('[::1]:8080:80')).toEqual({ address: '[::1]', host: 8080, container: 80 });
    expect(published('8080')).toEqual({ address: undefined, host: undefined, container: 8080 });
    expect(published('127.0.0.1::80')).toEqual({ address: '127.0.0.1', host: undefined, container: 80 });
    expect(published({ target: 80, published: '8080', host_ip: '127.0.0.1' })).toEqual({ address: '127.0.0.1', host: 8080, container: 80 });
    expect(pinned('postgres', '15', 'postgres:15')).toBe(false);
    expect(pinned('postgres', '15.19', 'postgres:15.19')).toBe(true);
    expect(pinned('redis', '7.4', 'redis:7.4')).toBe(false);
    expect(pinned('neo4j', '5.26-community', 'neo4j:5.26-community')).toBe(false);
    expect(pinned('neo4j', '5.26.18-community', 'neo4j:5.26.18-community')).toBe(true);
    expect(pinned('kafbat/kafka-ui', 'latest', 'kafbat/kafka-ui:latest')).toBe(false);
    expect(pinned('kafbat/kafka-ui', 'v1.5.0', 'kafbat/kafka-ui:v1.5.0')).toBe(true);
    expect(atLeast([8, 3, 2], [7, 9, 0])).toBe(true);
    expect(atLeast([7, 8, 12], [7, 9, 0])).toBe(false);
  });

  it('points the pipeline at the containers with variables the config knows', () => {
    const env = services.marketstream?.environment ?? {};
    for (const name of Object.keys(env)) expect(Object.keys(configSpec), `${name} is a config variable`).toContain(name);
    const internal = (services.kafka?.environment?.KAFKA_ADVERTISED_LISTENERS as string).split(',').find((l) => l.startsWith('INTERNAL://'));
    expect(`INTERNAL://${env.KAFKA_BROKERS}`).toBe(internal);
    expect(new URL(String(env.POSTGRES_URL)).username).toBe(services.postgres?.environment?.POSTGRES_USER);
    expect(new URL(String(env.SCHEMA_REGISTRY_URL)).host).toBe('schema-registry:8081');
    expect(`${env.NEO4J_USER}/${env.NEO4J_PASSWORD}`).toBe(services.neo4j?.environment?.NEO4J_AUTH);
    expect(hostPorts('marketstream')).toContain(Number(env.METRICS_PORT));
  });

  it('binds metrics and health to loopback by default, and to every interface only in the container that publishes them', () => {
    expect(configSpec.METRICS_HOST.default).toBe('127.0.0.1');
    const published = Object.entries(services).filter(([, s]) => s.build !== undefined && (s.ports ?? []).length > 0);
    expect(published.map(([name]) => name)).toContain('marketstream');
    for (const [name, s] of published) expect(s.environment?.METRICS_HOST, `${name} METRICS_HOST`).toBe('0.0.0.0');
    // The health check asks from inside the container, which 0.0.0.0 also serves.
    expect(JSON.stringify(services.marketstream?.healthcheck?.test)).toContain(`127.0.0.1:${services.marketstream?.environment?.METRICS_PORT}/ready`);
  });
});
