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
        // End-to-end files spend most of their time waiting (for processes to start, for a
        // failover, for the next minute of a schedule): a whole CI run averages well under
        // one busy core. So three files run at a time, each with its own cluster on its own
        // ports and temp dirs. Vitest runs groups one after another: the unit files (group 0)
        // first, then these (group 1); a file that is not ready for neighbours must say so.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 240_000,
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
