import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no server; `integration` (*.int.test.ts) runs against the real stack,
// which the global setup finds (configured servers that answer) or starts (the local stack).
export default defineConfig({
  test: {
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    reporters: ['default', './test/setup/summary-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.int.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
