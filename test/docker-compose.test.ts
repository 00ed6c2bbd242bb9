// docker-compose.kafka.yml must agree with the defaults in lib/config.ts: same host ports and credentials,
// so the same configuration works against the Docker setup and the local stack.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSpec } from '../lib/config.ts';
import { projectRoot } from '../stack/paths.ts';

interface Service { image: string; ports?: string[]; environment?: Record<string, string | number>; healthcheck?: { test: unknown }; profiles?: string[]; build?: unknown }
const compose = parse(readFileSync(join(projectRoot, 'docker-compose.kafka.yml'), 'utf8')) as { services: Record<string, Service> };
const services = compose.services;

function hostPorts(name: string): number[] {
  return (services[name]?.ports ?? []).map((p) => Number(p.split(':').at(-2)));
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
    expect(services.kafka?.image).toMatch(/^apache\/kafka:4\./);
    expect(services.postgres?.image).toBe('postgres:15');
    expect(services.redis?.image).toBe('redis:7');
    expect(services.neo4j?.image).toBe('neo4j:5.26-community');
    for (const name of ['kafka', 'schema-registry', 'kafka-ui', 'postgres', 'redis', 'neo4j', 'marketstream']) {
      expect(services[name]?.healthcheck?.test, `${name} health check`).toBeDefined();
    }
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
