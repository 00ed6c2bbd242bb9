// bin/node24.js, the launcher that lets `npm ci && npm run demo`, `npm test` and bin/marketstream.js work on a machine
// whose Node is older than 24: under the machine's old Node (/usr/bin/node, v20 here) they run under the Node 24 kept
// in ~/.cache/marketstream/node24; under Node >= 24 the launcher changes nothing. The older Node is the machine's
// (/usr/bin/node, as on CI's machines); without one these tests fail saying so, they never skip.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OLD_NODE = '/usr/bin/node';
const systemNodeVersion = spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim();
const oldMajor = Number(systemNodeVersion?.split('.')[0] ?? NaN);
/** Stops a test on a machine without an older Node, saying what it needs. */
const needOldNode = () => expect(oldMajor < 24,
  `these tests need a Node older than 24 at ${OLD_NODE} (found ${systemNodeVersion ?? 'none'}): install Debian's nodejs`).toBe(true);

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete e.NODE_OPTIONS; // set for the test runner (Node 24 flags); not for an old Node
  return e;
}

function run(node: string, args: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(node, args, { cwd: ROOT, env: env(extra), encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const INSTALLING = /installing node@24/;

describe('bin/node24.js under Node >= 24', () => {
  let emptyCache: string;
  beforeAll(() => { emptyCache = mkdtempSync(join(tmpdir(), 'node24-cache-')); });
  afterAll(() => rmSync(emptyCache, { recursive: true, force: true }));

  it('is a no-op: the same Node, no message, nothing installed even with an empty cache', () => {
    const path = run(process.execPath, ['bin/node24.js', 'path'], { XDG_CACHE_HOME: emptyCache });
    expect(path).toMatchObject({ status: 0, stderr: '' });
    expect(path.stdout.trim()).toBe(process.execPath);
    const exec = run(process.execPath, ['bin/node24.js', 'exec', '--', process.execPath, '-p', 'process.version'], { XDG_CACHE_HOME: emptyCache });
    expect(exec).toMatchObject({ status: 0, stderr: '', stdout: `${process.version}\n` });
    expect(readdirSync(emptyCache)).toEqual([]);
  });

  it('bin/marketstream.js runs directly: no message, nothing installed', () => {
    const r = run(process.execPath, ['bin/marketstream.js', 'config'], { XDG_CACHE_HOME: emptyCache });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('KAFKA_BROKERS');
    expect(r.stderr).not.toMatch(INSTALLING);
    expect(readdirSync(emptyCache)).toEqual([]);
  });
});

describe(`bin/node24.js under the machine's older Node (${OLD_NODE} v${systemNodeVersion ?? 'none'})`, () => {
  beforeAll(() => {
    needOldNode();
    // The cache may be cold on a new machine: this may install node@24 once (the only run allowed to).
    const r = run(OLD_NODE, ['bin/node24.js', 'path']);
    expect(r.status, r.stderr).toBe(0);
  }, 300_000);

  it('exec runs the command with Node 24 first on PATH, without installing again', () => {
    const r = run(OLD_NODE, ['bin/node24.js', 'exec', '--', 'node', '-p', 'process.version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^v2[4-9]\.|^v[3-9]\d\./);
    expect(r.stderr).not.toMatch(INSTALLING);
    expect(r.stderr).toBe('');
  });

  it('bin/marketstream.js re-runs itself under Node 24: `config` completes (the old Node alone cannot load the CLI)', () => {
    const r = run(OLD_NODE, ['bin/marketstream.js', 'config']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('KAFKA_BROKERS');
    expect(r.stderr).not.toMatch(INSTALLING);
  });

  it("passes the child's exit code through", () => {
    const r = run(OLD_NODE, ['bin/node24.js', 'exec', 'node', '-e', 'process.exit(7)']);
    expect(r.status).toBe(7);
  });

  it('forwards a SIGINT sent to it exactly once, so the child shuts down gracefully', async () => {
    const script = "let n = 0; process.on('SIGINT', () => { n++; setTimeout(() => { console.log('signals ' + n); process.exit(n === 1 ? 0 : 9); }, 300); }); " +
      "console.log('ready'); setInterval(() => {}, 1000);";
    const child = spawn(OLD_NODE, ['bin/node24.js', 'exec', 'node', '-e', script], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => child.stdout.on('data', () => { if (out.includes('ready')) resolve(); }));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('signals 1');
  });

  it('MARKETSTREAM_NODE_INSTALL=0 with no Node 24 in the cache: stops with a clear message, downloads nothing', () => {
    const emptyCache = mkdtempSync(join(tmpdir(), 'node24-cache-'));
    try {
      const r = run(OLD_NODE, ['bin/marketstream.js', 'config'], { XDG_CACHE_HOME: emptyCache, MARKETSTREAM_NODE_INSTALL: '0' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/Node 24 is needed.*put Node >= 24 first on PATH/);
      expect(readdirSync(emptyCache)).toEqual([]);
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });
});
