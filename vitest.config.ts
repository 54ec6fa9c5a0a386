import { defineConfig } from 'vitest/config';

// Unit and integration tests live beside each package's code; end-to-end tests that start
// whole clusters as processes live in test/. Workspace packages resolve to their TypeScript
// sources through the "source" export condition, so tests need no separate build of the
// package under test (the e2e project runs the built CLI, so `pnpm build` comes first).
/** End-to-end files whose schedules run every minute (see the e2e-cadence project). */
const CADENCE_FILES = ['test/schedules.test.ts', 'test/nats-cluster-failover.test.ts'];

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: [...CADENCE_FILES, '**/node_modules/**'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Files that follow a schedule across minute boundaries spend most of their minutes
        // waiting for the next one: a project of their own runs them beside the other e2e
        // files (projects run side by side; each keeps its own files one at a time).
        extends: true,
        test: {
          name: 'e2e-cadence',
          include: CADENCE_FILES,
          testTimeout: 300_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
