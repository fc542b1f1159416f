import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Model loading and database start-up dominate; a generous per-test budget avoids flaky timeouts on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Suites share one PostgreSQL server and create tables in it; running files one at a time keeps them apart.
    fileParallelism: false,
  },
});
