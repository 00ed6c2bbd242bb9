// Installs Debian packages the local stack needs (PostgreSQL, Redis) when their binaries are missing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { run } from './proc.ts';

let updated: Promise<string> | undefined;

export async function aptInstall(packages: string[], log: (m: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${packages.join(', ')}: install with \`sudo apt-get install -y ${packages.join(' ')}\` (stack up installs them itself only when ` +
      `run as root)`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`apt-get install -y ${packages.join(' ')}`);
  if (packages.includes('postgresql')) {
    // Debian would create and start a "main" cluster on 5432 that has no marketstream role; the stack runs its own.
    mkdirSync('/etc/postgresql-common/createcluster.d', { recursive: true });
    writeFileSync('/etc/postgresql-common/createcluster.d/marketstream.conf', 'create_main_cluster = false\n');
  }
  updated ??= run('apt-get', ['update', '-q'], { env });
  await updated;
  await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env });
}
