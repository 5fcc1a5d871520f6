import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration suites start real emulators and synthesize CDK; both take seconds.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: emulator-backed suites contend for CPU when run in parallel.
    fileParallelism: false,
    allowOnly: false,
  },
});
