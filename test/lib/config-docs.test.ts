import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { effectiveValues, envExample, markdownTable } from '../../lib/config-docs.ts';

describe('configuration docs', () => {
  it('.env.example lists every variable with its default (regenerate: marketstream config --env-example > .env.example)', async () => {
    expect(await readFile(new URL('../../.env.example', import.meta.url), 'utf8')).toBe(envExample());
  });

  it('the README carries the configuration table (regenerate: marketstream config --markdown)', async () => {
    expect(await readFile(new URL('../../README.md', import.meta.url), 'utf8')).toContain(markdownTable());
  });

  it('masks secrets and passwords in URLs', () => {
    const v = effectiveValues(loadConfig({ ANTHROPIC_API_KEY: 'sk-ant-secret', POSTGRES_URL: 'postgres://u:hunter2@db:5432/x', NEO4J_PASSWORD: 'pw' }));
    expect(JSON.stringify(v)).not.toMatch(/sk-ant-secret|hunter2|"pw"/);
    expect(v.ANTHROPIC_API_KEY).toBe('***');
    expect(v.POSTGRES_URL).toBe('postgres://u:***@db:5432/x');
  });
});
