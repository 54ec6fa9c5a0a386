import { defineConfig } from 'vitest/config';

// Unit and integration tests live beside each package's code; end-to-end tests that start
// whole clusters as processes live in test/. Workspace packages resolve to their TypeScript
// sources through the "source" export condition, so tests need no separate build of the
// package under test (the e2e project runs the built CLI, so `pnpm build` comes first).
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
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
