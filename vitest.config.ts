import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    exclude: ["test/conformance/**", "node_modules/**"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // Servers started by tests (PostgreSQL, Redis, Prometheus) are heavy on a 2-core machine.
    maxWorkers: 2,
  },
});
