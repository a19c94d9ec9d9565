import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // CI sets VITEST_JSON_DIR: a JSON report beside the console one, for .ci/summary.mjs.
    ...(process.env.VITEST_JSON_DIR
      ? {
          reporters: ["default", "json"],
          outputFile: { json: `${process.env.VITEST_JSON_DIR}/unit.json` },
        }
      : {}),
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    // test/abuse.test.ts runs alone afterwards (vitest.isolated.config.ts).
    exclude: ["test/conformance/**", "test/abuse.test.ts", "node_modules/**"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // Servers started by tests (PostgreSQL, Redis, Prometheus) are heavy on a 2-core machine.
    maxWorkers: 2,
  },
});
