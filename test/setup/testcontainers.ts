// Starts the servers the tests need as Docker containers with Testcontainers, from the images, environment,
// ports and network names of docker-compose.kafka.yml (one source of truth for the Docker setup).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenericContainer, getContainerRuntimeClient, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { parse } from 'yaml';
import { projectRoot } from '../../stack/paths.ts';

export const composeFile = join(projectRoot, 'docker-compose.kafka.yml');

interface ComposeService {
  image?: string;
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  depends_on?: Record<string, unknown> | string[];
}

export function readCompose(file = composeFile): Record<string, ComposeService> {
  const doc = parse(readFileSync(file, 'utf8')) as { services?: Record<string, ComposeService> };
  return doc.services ?? {};
}

/** "9092:9092" or "127.0.0.1:9092:9092" -> host and container ports. */
export function parsePort(spec: string): { host: number; container: number } {
  const parts = spec.split(':');
  const container = Number(parts.at(-1));
  const host = Number(parts.at(-2) ?? container);
  return { host, container };
}

/** True when a Docker (or compatible) engine answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export interface StartedContainers {
  stop(): Promise<void>;
}

/** Starts the named compose services (and what they depend on) on one network, compose ports on the host. */
export async function startContainers(names: string[], log: (m: string) => void = () => undefined): Promise<StartedContainers> {
  const services = readCompose();
  const wanted: string[] = [];
  const add = (name: string): void => {
    if (wanted.includes(name)) return;
    const svc = services[name];
    if (!svc?.image) throw new Error(`${composeFile} has no service "${name}" with an image`);
    const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
    deps.forEach(add);
    wanted.push(name);
  };
  names.forEach(add);

  const network: StartedNetwork = await new Network().start();
  const started: StartedTestContainer[] = [];
  const stop = async (): Promise<void> => {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await network.stop().catch(() => undefined);
  };
  try {
    for (const name of wanted) {
      const svc = services[name] as ComposeService;
      log(`starting container ${name} (${svc.image})`);
      const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v)]));
      const container = new GenericContainer(svc.image as string)
        .withNetwork(network)
        .withNetworkAliases(name)
        .withEnvironment(env)
        .withExposedPorts(...(svc.ports ?? []).map(parsePort))
        .withWaitStrategy(Wait.forListeningPorts())
        .withStartupTimeout(180_000);
      started.push(await container.start());
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
