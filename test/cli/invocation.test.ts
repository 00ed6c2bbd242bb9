// The commands the CLI prints (the demo's "Look further") start with what runs it from the user's shell.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { printSummary, type DemoSummary } from '../../cli/demo/summary.ts';
import { cliInvocation } from '../../cli/invocation.ts';

const root = mkdtempSync(join(tmpdir(), 'invocation-'));
const BIN = fileURLToPath(new URL('../../bin/marketstream.js', import.meta.url));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cliInvocation', () => {
  it('is `npx marketstream` when no marketstream is on PATH (right after npm ci)', () => {
    expect(cliInvocation('')).toBe('npx marketstream');
    expect(cliInvocation(['/nonexistent', root].join(delimiter))).toBe('npx marketstream');
  });

  it('is `marketstream` when the first one on PATH is this CLI (npm link), and not when it is another program', () => {
    const linked = mkdtempSync(join(root, 'linked-')); // what `npm link` leaves: bin/marketstream → …/bin/marketstream.js
    symlinkSync(BIN, join(linked, 'marketstream'));
    const other = mkdtempSync(join(root, 'other-')); // another program of that name
    writeFileSync(join(other, 'marketstream'), '#!/bin/sh\n', { mode: 0o755 });
    const empty = mkdtempSync(join(root, 'empty-'));
    expect(cliInvocation(linked)).toBe('marketstream');
    expect(cliInvocation([empty, linked].join(delimiter))).toBe('marketstream');
    expect(cliInvocation([other, linked].join(delimiter))).toBe('npx marketstream');
  });
});

describe('the demo summary', () => {
  it('starts every command of "Look further" with the invocation it is given', () => {
    const s: DemoSummary = {
      postgres: [], redis: [], neo4j: [], features: [], subjects: [], events: { total: 0, enriched: 0, latest: [] },
      graph: {
        counts: { affects: 0, inSector: 0, competes: 0, correlated: 0 }, correlated: [],
        focus: { symbol: 'AAPL', sector: null, industry: null, competitors: [], correlated: [], events: [] },
      },
    };
    const lines: string[] = [];
    printSummary(s, (l) => lines.push(l), 'npx marketstream');
    const further = lines.join('\n').split('Look further:\n')[1]!.split('\n');
    const commands = further.filter((l) => /^\s+(npx )?marketstream\b/.test(l));
    expect(commands.map((l) => l.trim().split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'npx marketstream inspect', 'npx marketstream inspect', 'npx marketstream inspect', 'npx marketstream consume',
    ]);
    expect(further.filter((l) => /^\s+marketstream\b/.test(l))).toEqual([]);
  });
});
