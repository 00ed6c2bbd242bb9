// Issue #13: on a terminal the demo shows its steps above a live view redrawn in place (topics, groups, stores,
// Claude), with no log records on the screen. Runs the real demo in a pseudo-terminal: tmux (own socket, 120×40),
// whose screen is read while the demo runs, and whose raw output (pipe-pane) shows the cursor movements. tmux is
// required, never skipped for: .ci/run installs it when missing.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { randomName } from '../helpers/index.ts';

const run = promisify(execFile);
const has = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };
const tmux = has('tmux');

const env = () => ({
  ...process.env, KAFKA_GROUP_PREFIX: randomName('demo-tty'), LOG_LEVEL: 'info', LOG_FORMAT: 'auto', ANTHROPIC_API_KEY: '', METRICS_PORT: '0',
});
const demoCommand = `${shellQuote(process.execPath)} bin/marketstream.js demo --seconds 3`;
const LABELS = ['live view', 'Topics', 'published', 'price-updates', 'Consumer groups', 'lag', 'written', '.postgres-sink',
  'PostgreSQL  price_data', 'market_events', 'Redis       price:*', 'bars:*', 'Neo4j', 'nodes', 'relationships', 'Claude',
  'rule-based classifier (no ANTHROPIC_API_KEY)', 'Logs'];
/** A log record as pino writes it (JSON) or pino-pretty prints it (`[12:00:00.000] INFO (…`). */
const LOG_RECORD = /^\s*\{.*"(level|msg)"|^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL)/;

describe('marketstream demo on a terminal', () => {
  it('redraws a live view in place, below the steps, with no log records on the screen (tmux)', async () => {
    expect(tmux, 'this test runs the demo in tmux: install it (apt-get install tmux; .ci/run does when it is missing)').toBe(true);
    const socket = randomName('marketstream-demo-tty');
    const t = (...args: string[]) => run('tmux', ['-L', socket, ...args], { env: env() });
    const rawDir = mkdtempSync(path.join(tmpdir(), 'demo-tty-'));
    const raw = path.join(rawDir, 'raw');
    // The session starts with the shell's `read`: the demo runs only once pipe-pane records everything it writes.
    await t('new-session', '-d', '-s', 'demo', '-c', process.cwd(), '-x', '120', '-y', '40', `read go; ${demoCommand}; echo "DEMO EXIT=$?"; sleep 60`);
    await t('pipe-pane', '-t', 'demo', '-o', `cat >> ${shellQuote(raw)}`);
    await t('send-keys', '-t', 'demo', 'Enter');
    const frames: string[] = [];
    let logFile: string | undefined;
    try {
      const until = Date.now() + 150_000;
      while (Date.now() < until) {
        const { stdout: screen } = await t('capture-pane', '-p', '-t', 'demo');
        frames.push(screen);
        if (/DEMO EXIT=/.test(screen)) break;
        await new Promise((r) => setTimeout(r, 400));
      }
      const { stdout: history } = await t('capture-pane', '-p', '-S', '-', '-E', '-', '-t', 'demo');
      logFile = history.match(/^Logs: (\S+) \(JSON lines/m)?.[1];
      expect(history).toMatch(/DEMO EXIT=0/);
      const live = frames.filter((f) => f.includes('live view ·'));
      expect(live.length, 'frames showing the live view').toBeGreaterThan(2);
      const full = live.find((f) => LABELS.every((l) => f.includes(l)));
      expect(full, `a frame with every label; last one:\n${live.at(-1)}`).toBeDefined();
      expect(history).toMatch(/^Backfilling 60 days of daily bars for 5 symbols…$/m);
      expect(history).toMatch(/^Starting the consumer groups…$/m);
      // Redrawn in place: one view in the whole scrollback, below the last step, above the summary.
      expect(history.match(/live view ·/g)).toHaveLength(1);
      expect(history.indexOf('live view ·')).toBeGreaterThan(history.indexOf('Letting the groups catch up'));
      expect(history.indexOf('live view ·')).toBeLessThan(history.indexOf('PostgreSQL  price_data (rows per symbol)'));
      for (const f of [...frames, history]) expect(f.split('\n').filter((l) => LOG_RECORD.test(l))).toEqual([]);
      // What the demo wrote to the terminal, as bytes: every label, the view redrawn by moving the cursor up over it and
      // clearing to the end of the screen, and no log record on any line.
      const stdout = readFileSync(raw, 'utf8');
      for (const l of LABELS) expect(stdout).toContain(l);
      expect(stdout).toMatch(/\u001b\[\d+A\r?\u001b\[0J/); // cursor up over the view, clear to the end of the screen
      expect(stdout.split(/\r?\n/).filter((l) => LOG_RECORD.test(l))).toEqual([]);
    } finally {
      await t('kill-server').catch(() => {});
      if (logFile) rmSync(logFile, { force: true });
      rmSync(rawDir, { recursive: true, force: true });
    }
  });
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
