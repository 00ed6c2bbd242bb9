import { defineConfig } from 'vitest/config';

// Three projects: `unit` needs no server; the integration files (*.int.test.ts) run against the real stack, which the
// global setup finds (configured servers that answer) or starts (the local stack). Integration files use their own
// random topics, groups, symbols and scratch roles, so most run side by side (`integration`, while `unit` runs too):
// they spend their time waiting on servers, not computing. The two that time group membership across processes
// (session timeouts, a member SIGKILLed) and `run`, which shares the demo's topics, run afterwards, one at a time
// (`integration-alone`), so that neither a loaded machine nor the demo test can skew them.
const alone = [
  'test/consumers/scaling.int.test.ts', // two member processes, one SIGKILLed mid-stream
  'test/consumers/membership.int.test.ts', // session timeouts and rebalances measured in seconds
  'test/cli/run.int.test.ts', // `run` reads and writes the shared market-events and graph-mutations topics, as the demo does
];

export default defineConfig({
  test: {
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    reporters: ['default', './test/setup/summary-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.int.test.ts'], testTimeout: 20_000, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          exclude: alone,
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          maxWorkers: 3,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration-alone',
          include: alone,
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
