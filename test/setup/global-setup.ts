// vitest globalSetup of the integration project: makes sure every configured server answers before any test.
// Missing ones are started with Testcontainers when a Docker engine answers, else with the local stack
// (`stackUp`). A server that still does not answer fails the run with how to start it; tests never skip.
import { loadConfig } from '../../lib/config.ts';
import { stackUp } from '../../stack/index.ts';
import { waitFor } from '../helpers/wait.ts';
import { requiredServers, unanswered } from './servers.ts';
import { dockerAvailable, startContainers, type StartedContainers } from './testcontainers.ts';

const HOW_TO_START = 'start them with `npm run stack:up` (local, no Docker) or `docker compose -f docker-compose.kafka.yml up -d`';

function log(message: string): void {
  process.stderr.write(`[global-setup] ${message}\n`);
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const config = loadConfig();
  const servers = requiredServers(config);
  let missing = await unanswered(servers);
  if (!missing.length) return undefined;

  let containers: StartedContainers | undefined;
  let startError = '';
  log(`not answering: ${missing.map((s) => `${s.name} (${s.where})`).join(', ')}`);
  if (await dockerAvailable()) {
    log('Docker engine found: starting them with Testcontainers');
    containers = await startContainers(missing.map((s) => s.name), log);
  } else {
    log('no Docker engine: starting the local stack (stack up)');
    try {
      await stackUp({ stackDir: config.STACK_DIR, log: (m) => log(`stack: ${m}`) });
    } catch (err) {
      startError = ` (stack up: ${err instanceof Error ? err.message : String(err)})`;
    }
  }

  try {
    // Once started, a server may take a moment to answer at the configured address; a failed stack up gets one look.
    await waitFor(async () => (missing = await unanswered(servers)).length === 0, { timeoutMs: startError ? 0 : 120_000, intervalMs: 1000, what: 'servers' });
  } catch {
    await containers?.stop();
    throw new Error(`integration tests need these servers, which do not answer: ${missing.map((s) => `${s.name} at ${s.where}`).join(', ')}; ` +
      `${HOW_TO_START}${startError}`);
  }
  log('all servers answer');
  // Containers go with the run; a local stack we started is left running for the next run (`npm run stack:down` stops it).
  return containers ? () => containers.stop() : undefined;
}
