// The five servers the integration tests need, each with the configured address it is probed at and
// the compose service that provides it under Docker.
import type { Config } from '../../lib/config.ts';
import { probeKafka, probeNeo4j, probePostgres, probeRedis, probeRegistry } from '../../stack/probes.ts';

export interface RequiredServer {
  /** As named in docker-compose.kafka.yml and the local stack. */
  name: 'kafka' | 'schema-registry' | 'postgres' | 'redis' | 'neo4j';
  /** Configured address, for messages (credentials removed). */
  where: string;
  probe: () => Promise<boolean>;
}

function hostOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export function requiredServers(config: Config): RequiredServer[] {
  return [
    { name: 'kafka', where: config.KAFKA_BROKERS.join(','), probe: () => probeKafka(config.KAFKA_BROKERS) },
    {
      name: 'schema-registry',
      where: config.SCHEMA_REGISTRY_URL,
      probe: () => probeRegistry(config.SCHEMA_REGISTRY_URL, { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }),
    },
    { name: 'postgres', where: hostOf(config.POSTGRES_URL), probe: () => probePostgres(config.POSTGRES_URL) },
    { name: 'redis', where: hostOf(config.REDIS_URL), probe: () => probeRedis(config.REDIS_URL) },
    { name: 'neo4j', where: hostOf(config.NEO4J_URL), probe: () => probeNeo4j(config.NEO4J_URL, config.NEO4J_USER, config.NEO4J_PASSWORD) },
  ];
}

/** Names of the servers that do not answer now. */
export async function unanswered(servers: RequiredServer[]): Promise<RequiredServer[]> {
  const answers = await Promise.all(servers.map((s) => s.probe()));
  return servers.filter((_, i) => !answers[i]);
}
