// A reader that stops early (`marketstream config | head -1`) is not an error: the CLI exits 0 without a stack trace.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('stdout closed by the reader', () => {
  it('config into a pipe whose reader is gone exits 0, quietly', async () => {
    const child = spawn(process.execPath, ['bin/marketstream.js', 'config'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first write: that write fails with EPIPE
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  });
});
