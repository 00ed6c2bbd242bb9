// `marketstream explain` on targets the graph knows nothing of (README: "exit 1 when the graph knows nothing of it"),
// as the real CLI against the running Neo4j, PostgreSQL and Kafka: a symbol (looked up as an event id too) and a
// relationship that were never written (random names). Each says so and exits 1, as text and as JSON; a target that is
// none of the accepted forms fails as an error, also with exit 1. (Known targets and their exit 0: test/ops/explain.int.test.ts.)
import { describe, expect, it } from 'vitest';
import { randomSymbol } from '../helpers/index.ts';
import { startCli } from './cli-process.ts';

async function explain(...args: string[]): Promise<{ code: number | null; out: string }> {
  const cli = startCli(['explain', ...args], { LOG_LEVEL: 'error' });
  const { code } = await cli.exited;
  return { code, out: cli.output() };
}

describe('marketstream explain: an unknown target', () => {
  const [a, b] = [randomSymbol(), randomSymbol()];

  it('says the graph has no such fact and exits 1: a symbol (or event id), and a relationship as JSON', async () => {
    const [node, rel] = await Promise.all([explain(a), explain(`${a}-COMPETES_WITH-${b}`, '--json')]);
    expect(node.out).toContain(`${a}: no such fact in the graph, and no record of its deletion`);
    expect(node.out).not.toContain('explain failed');
    expect(node.code, node.out).toBe(1);
    expect(rel.code, rel.out).toBe(1);
    expect(JSON.parse(rel.out)).toMatchObject({ target: `${a}-COMPETES_WITH-${b}`, facts: [] });
  });

  it('a target that is none of the accepted forms is an error: exit 1, naming the forms', async () => {
    const r = await explain('not a target!');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/explain failed: "not a target!" is not an event id, a symbol, or FROM-REL-TO/);
  });
});
