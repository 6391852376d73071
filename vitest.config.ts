import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // fast-check property tests and HTTP tests share the two cores
    pool: "forks",
    sequence: { concurrent: false },
    maxConcurrency: 3
  }
})
