#!/usr/bin/env node
// Runs things under Node.js >= 24 whatever `node` the machine has. Plain JavaScript (no TypeScript, nothing from
// node_modules) so that an older Node (18, 20) can load it: under Node >= 24 it changes nothing; under an older one it
// uses the Node 24 kept in ${XDG_CACHE_HOME:-~/.cache}/marketstream/node24, which it installs there once from the npm
// registry (the `node@24` package), saying so in one line on stderr.
//
//   node bin/node24.js exec [--] <command> [args…]   run <command> with Node 24's bin first on PATH (npm scripts)
//   node bin/node24.js path                          print the Node >= 24 binary that would be used
//
// bin/marketstream.js calls runUnderNode24() to re-run itself. MARKETSTREAM_NODE_INSTALL=0 forbids the install (a
// Node 24 already in the cache is still used); with Node >= 24 first on PATH none of this happens.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants, homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { fileURLToPath } from 'node:url';

const NEEDED = 24;
const major = (version) => Number(String(version).replace(/^v/, '').split('.')[0]);

export const currentIsEnough = () => major(process.versions.node) >= NEEDED;

/** The cache folder holding Node 24 (`bin/node`), the same one .ci/run used to fill by hand. */
export function node24Dir() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'marketstream', 'node24');
}

function tilde(path) {
  const home = homedir();
  return path.startsWith(home + '/') ? '~' + path.slice(home.length) : path;
}

/** The Node binary in `dir` when it is there, executable and >= 24 (read from its package.json: no process started). */
function usableNode(dir) {
  const bin = join(dir, 'bin', 'node');
  try {
    accessSync(bin, constants.X_OK);
    const real = realpathSync(bin); // …/lib/node_modules/<node or node-<os>-<arch>>/bin/node
    const { version } = JSON.parse(readFileSync(join(dirname(real), '..', 'package.json'), 'utf8'));
    return major(version) >= NEEDED ? bin : undefined;
  } catch {
    return undefined;
  }
}

function fail(message) {
  process.stderr.write(`marketstream: ${message}\n`);
  process.exit(1);
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Takes the install lock (a directory: mkdir is atomic); false while another live process holds it. */
function tryLock(lock) {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  // Stale when its owner is gone, or older than any install could take (its pid may be another container's).
  const since = statSync(lock, { throwIfNoEntry: false });
  if (!since) return false; // just released: try again
  const age = Date.now() - since.mtimeMs;
  let stale = age > 15 * 60_000;
  try {
    process.kill(Number(readFileSync(join(lock, 'pid'), 'utf8')), 0);
  } catch (err) {
    if (err.code === 'ESRCH') stale = true;
    else if (err.code === 'ENOENT' || err.code === 'ERR_INVALID_ARG_TYPE') stale ||= age > 10_000; // pid never written
  }
  if (stale) rmSync(lock, { recursive: true, force: true });
  return false;
}

/** npm install -g --prefix <tmp> <pkg>; returns npm's output (shown only when the install fails). */
function npmInstall(prefix, pkg) {
  rmSync(prefix, { recursive: true, force: true });
  const r = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--no-fund', '--no-audit', '--no-update-notifier', pkg], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) return `${r.error.message} (is npm on PATH?)`;
  return `${r.stdout}${r.stderr}`.trim() + (r.status === 0 ? '' : `\nnpm exited with ${r.status ?? r.signal}`);
}

/** The cached Node 24, installed first when missing: into a temporary folder renamed into place, under a lock. */
export function ensureNode24() {
  const dir = node24Dir();
  const ready = usableNode(dir);
  if (ready) return ready;
  const why = `Node ${NEEDED} is needed and this is Node ${process.versions.node}`;
  if (process.env.MARKETSTREAM_NODE_INSTALL === '0') {
    fail(`${why}; put Node >= ${NEEDED} first on PATH, or unset MARKETSTREAM_NODE_INSTALL to let it install node@${NEEDED} into ${tilde(dir)}.`);
  }
  process.stderr.write(`marketstream: ${why}; installing node@${NEEDED} into ${tilde(dir)} (once)…\n`);
  try {
    return install(dir);
  } catch (err) {
    return fail(`${err.message}\nInstall Node >= ${NEEDED} yourself and put it first on PATH.`);
  }
}

function install(dir) {
  mkdirSync(dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 20 * 60_000;
  while (!tryLock(lock)) { // another process is installing: wait for it, then use what it installed
    const done = usableNode(dir);
    if (done) return done;
    if (Date.now() > deadline) throw new Error(`gave up waiting for the install lock ${lock} (remove it if no install is running)`);
    sleep(250);
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  try {
    const again = usableNode(dir);
    if (again) return again;
    // node@24 fetches its binary (the node-<os>-<arch> package) in a preinstall script; should npm not run it,
    // that platform package itself (no scripts) is the fallback.
    const platformPkg = `${process.platform === 'darwin' && process.arch === 'arm64' ? 'node-bin' : 'node'}-${process.platform}-${process.arch}@${NEEDED}`;
    let log = '';
    for (const pkg of [`node@${NEEDED}`, platformPkg]) {
      log += `$ npm install -g --prefix ${tmp} ${pkg}\n${npmInstall(tmp, pkg)}\n`;
      if (usableNode(tmp)) break;
    }
    if (!usableNode(tmp)) throw new Error(`installing Node ${NEEDED} failed:\n${log}`);
    if (existsSync(dir) && !usableNode(dir)) { // a broken earlier install (e.g. an interrupted one): move it aside
      const old = `${dir}.old-${process.pid}`;
      renameSync(dir, old);
      rmSync(old, { recursive: true, force: true });
    }
    try {
      renameSync(tmp, dir); // bin/node is a relative symlink, so the folder can move
    } catch (err) {
      if (!usableNode(dir)) throw err; // someone else's complete install got there first: use it
    }
    const node = usableNode(dir);
    if (!node) throw new Error(`${dir}/bin/node is not a usable Node ${NEEDED} after the install`);
    return node;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The Node >= 24 binary to use: this one, or the cached one (installed when needed). */
export const node24Binary = () => (currentIsEnough() ? process.execPath : ensureNode24());

/**
 * Runs `command args` as a child with Node 24 first on PATH (when this Node is older), passing stdio through, and
 * ends this process the way the child ended (its exit code, or the same signal). Never returns.
 *
 * Signals: the child must get each SIGINT/SIGTERM once, since a second one means "exit now" to the CLI. When stdin
 * is a terminal the child shares our process group (it needs the terminal), so a Ctrl-C reaches it directly and is
 * not forwarded again; SIGTERM and SIGHUP sent to us are. Otherwise the child gets a process group of its own and
 * every signal we get is forwarded, whether it was sent to our pid or to our group (e.g. by `timeout`).
 */
export function runWith(command, args, { node = node24Binary() } = {}) {
  const env = { ...process.env };
  if (node !== process.execPath) {
    const bin = dirname(node);
    env.PATH = env.PATH ? `${bin}${delimiter}${env.PATH}` : bin;
    if (env.NODE) env.NODE = node; // set by npm for its scripts: the Node that runs them
    if (env.npm_node_execpath) env.npm_node_execpath = node;
  }
  const interactive = isatty(0);
  const child = spawn(command, args, { stdio: 'inherit', env, detached: !interactive });
  const forwarded = interactive ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const forward = (signal) => {
    try {
      if (interactive) child.kill(signal);
      else process.kill(-child.pid, signal); // its whole group, as a signal to our group would have reached it
    } catch { /* already gone */ }
  };
  const ignore = () => {}; // interactive Ctrl-C: the child got it too; we wait for it to finish
  for (const s of forwarded) process.on(s, forward);
  if (interactive) process.on('SIGINT', ignore);
  child.on('error', (err) => fail(`cannot run ${command}: ${err.message}`));
  child.on('exit', (code, signal) => {
    for (const s of forwarded) process.off(s, forward);
    process.off('SIGINT', ignore);
    if (signal) {
      process.exitCode = 128 + (osConstants.signals[signal] ?? 0); // the shell's convention, should the next line not end us
      process.kill(process.pid, signal); // end the same way, so the caller sees the signal
      return;
    }
    process.exit(code ?? 1);
  });
}

/** bin/marketstream.js under an older Node: re-run it (same Node flags, script and arguments) under Node 24. */
export function runUnderNode24() {
  const node = ensureNode24();
  if (realpathSync(node) === realpathSync(process.execPath)) return; // already it (cannot happen): let the guard speak
  runWith(node, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], { node });
  return new Promise(() => {}); // the child's exit ends this process
}

function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === 'path') {
    process.stdout.write(`${node24Binary()}\n`);
    return;
  }
  if (cmd === 'exec') {
    const args = rest[0] === '--' ? rest.slice(1) : rest;
    if (args.length === 0) fail('usage: node bin/node24.js exec [--] <command> [args…]');
    runWith(args[0], args.slice(1));
    return;
  }
  fail('usage: node bin/node24.js exec [--] <command> [args…] | node bin/node24.js path');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
