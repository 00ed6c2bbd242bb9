// Runs the real CLI (`bin/marketstream.js …`) as a child process for tests: JSON logs collected, the health server's
// URL read from its start-up log line, signals sent, exit awaited.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from '../helpers/index.ts';

export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** What was written to stdout alone (the command's result; logs go to stderr). */
  stdout(): string;
  /** Parsed JSON log lines so far (non-JSON lines skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Base URL of /metrics, /health, /ready, /live, once the process logged it. */
  url(): Promise<string>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Like `exited`, once stdout and stderr have also ended (so output() and stdout() are complete). */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], env: Record<string, string | undefined>): CliProcess {
  const child = spawn(process.execPath, ['bin/marketstream.js', ...args], {
    env: { ...process.env, LOG_FORMAT: 'json', METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  const out: string[] = [];
  child.stdout!.on('data', (d: Buffer) => { chunks.push(d.toString()); out.push(d.toString()); });
  child.stderr!.on('data', (d: Buffer) => chunks.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })));
  const output = () => chunks.join('');
  const logs = () => output().split('\n').flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  return {
    child,
    output,
    stdout: () => out.join(''),
    logs,
    exited,
    closed,
    url: () => waitFor(() => logs().find((l) => l.component === 'health-server' && typeof l.url === 'string')?.url as string | undefined,
      { what: 'the health server URL in the logs', timeoutMs: 60_000 }),
  };
}
