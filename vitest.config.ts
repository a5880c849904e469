import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['libs/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/test/*.test.ts'],
    // the end-to-end files run real DHT servers, Redis and cluster processes on 2 cores:
    // one file at a time keeps them from starving each other into timeouts
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
